//! `sekimori sensor`: the passive sensor running continuously — live
//! capture from an interface (SPAN port or TAP) and/or NetFlow/IPFIX
//! collectors — feeding the inventory and the communication map of the
//! same store `serve` uses. And `sekimori analyze FILE... --store`: the
//! same write path after an offline analysis.
//!
//! Each input runs on a thread of its own and feeds one
//! [`sekimori_sensor::Analyzer`]; every `flush_secs` the changed assets and
//! the conversation buckets filled so far are written
//! ([`sekimori_sensor::feed`]). A write that fails is retried at the next
//! flush (buckets are kept, up to a bound; assets are offered again). On
//! SIGINT/SIGTERM the inputs stop, every open flow is ended, the last flush
//! is written, and the command exits 0. Start and stop are audited; the
//! writes themselves are bookkeeping and are not.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;
use tokio::sync::mpsc;

use sekimori_audit::{Actor, AuditEvent};
use sekimori_capture::collector::Collector;
use sekimori_sensor::feed::{Delta, Feed};
use sekimori_sensor::{Analyzer, FlowConfig, Options, Timestamp};
use sekimori_store::{
    AuditCtx, AuditRepo, ConversationBucket, InventoryRepo, ObservedAsset, Store,
};
use sekimori_types::Lang;

use super::open;
use crate::args::{AnalyzeArgs, AnalyzeFormat, Cli, SensorArgs};

/// The `[sensor]` section of `config.toml`; flags override it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SensorSettings {
    /// Interface to capture from (a SPAN port or TAP), if any.
    pub interface: Option<String>,
    /// BPF filter for the capture (tcpdump syntax).
    pub filter: Option<String>,
    /// UDP addresses to receive NetFlow v5/v9 and IPFIX exports on.
    pub collectors: Vec<SocketAddr>,
    /// Seconds between writes to the store.
    pub flush_secs: u64,
    /// Most flows tracked at once.
    pub max_flows: usize,
    /// The policy file (zones, rules, detections): alerts are raised
    /// within seconds, stored and forwarded (`[forward]`).
    pub policy: Option<PathBuf>,
}

impl Default for SensorSettings {
    fn default() -> Self {
        Self {
            interface: None,
            filter: None,
            collectors: Vec::new(),
            flush_secs: 10,
            max_flows: 500_000,
            policy: None,
        }
    }
}

impl SensorSettings {
    pub fn validate(&self) -> Result<()> {
        if !(1..=3600).contains(&self.flush_secs) {
            anyhow::bail!("flush_secs: must be 1 to 3600 seconds");
        }
        if self.max_flows == 0 {
            anyhow::bail!("max_flows: must be at least 1");
        }
        Ok(())
    }
}

/// Most conversation buckets kept for a retry while the store cannot be
/// written (the oldest are dropped beyond it, and counted).
const MAX_PENDING_BUCKETS: usize = 1_000_000;

/// A sensor timestamp as a time.
fn time_of(t: Timestamp) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(t.0)).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn wall_clock() -> Timestamp {
    let now = OffsetDateTime::now_utc().unix_timestamp_nanos();
    Timestamp(u64::try_from(now).unwrap_or(0))
}

/// Text the store keeps: control characters removed, at most
/// [`sekimori_store::MAX_OBSERVED_TEXT`] characters, `None` when empty.
fn clean(s: &str) -> Option<String> {
    let t: String =
        s.chars().filter(|c| !c.is_control()).take(sekimori_store::MAX_OBSERVED_TEXT).collect();
    let t = t.trim().to_owned();
    (!t.is_empty()).then_some(t)
}

/// A sensor asset as the store takes it; `None` (logged) for one the store
/// would refuse, so one odd device never blocks the others.
pub fn observed(a: &sekimori_sensor::Asset, now: OffsetDateTime) -> Option<ObservedAsset> {
    let client: Vec<String> = a.protocols_as_client.iter().map(|p| p.as_str().to_owned()).collect();
    let server: Vec<String> = a.protocols_as_server.iter().map(|p| p.as_str().to_owned()).collect();
    let link: Vec<String> = a
        .protocols
        .iter()
        .map(|p| p.as_str().to_owned())
        .filter(|p| !client.contains(p) && !server.contains(p))
        .collect();
    let seen = |t: Option<Timestamp>| t.map_or(now, time_of);
    let o = ObservedAsset {
        key: a.id.clone(),
        mac: a.mac.map(|m| m.to_string()),
        ips: a.ips.clone(),
        names: a.names.iter().filter_map(|n| clean(n)).collect(),
        vendor: a.vendor.as_deref().and_then(clean),
        product: a.product.as_deref().and_then(clean),
        version: a.version.as_deref().and_then(clean),
        mac_vendor: a.mac_vendor.and_then(clean),
        protocols_as_client: client,
        protocols_as_server: server,
        protocols_link: link,
        role: a.role.map(str::to_owned),
        role_basis: a.role_basis.map(str::to_owned),
        local: a.local,
        first_seen: seen(a.first_seen),
        last_seen: seen(a.last_seen).max(seen(a.first_seen)),
    };
    match o.validate() {
        Ok(()) => Some(o),
        Err(e) => {
            tracing::warn!(message = "Asset not stored.", asset = %a.id, field = e.field, reason = e.reason);
            None
        }
    }
}

/// A sensor conversation bucket as the store takes it (`None`, logged,
/// when the store would refuse it).
pub fn bucket(c: &sekimori_sensor::Conversation) -> Option<ConversationBucket> {
    let b = ConversationBucket {
        client: c.client_asset.clone(),
        server: c.server_asset.clone(),
        service: c.service.to_string(),
        start: time_of(c.start),
        packets_out: c.counts.packets_out,
        packets_in: c.counts.packets_in,
        bytes_out: c.counts.bytes_out,
        bytes_in: c.counts.bytes_in,
        flows: c.counts.flows,
    };
    match b.validate() {
        Ok(()) => Some(b),
        Err(e) => {
            tracing::warn!(
                message = "Conversation bucket not stored.",
                client = %c.client_asset,
                server = %c.server_asset,
                field = e.field,
                reason = e.reason
            );
            None
        }
    }
}

/// What one flush wrote.
#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct Written {
    pub assets: u64,
    pub assets_created: u64,
    pub buckets: u64,
}

/// Writes assets, then buckets (so their endpoints resolve to the newest
/// rows). On error nothing is marked written.
async fn write(
    store: &Store,
    assets: &[sekimori_sensor::Asset],
    buckets: &[ConversationBucket],
) -> Result<Written> {
    let now = OffsetDateTime::now_utc();
    let rows: Vec<ObservedAsset> = assets.iter().filter_map(|a| observed(a, now)).collect();
    let w = store.upsert_observed(&rows).await.context("writing the inventory")?;
    let n = store.add_conversations(buckets).await.context("writing the conversations")?;
    Ok(Written { assets: rows.len() as u64, assets_created: w.created, buckets: n })
}

/// One analysis in progress and what of it was sent.
struct State {
    an: Analyzer,
    feed: Feed,
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    // A panicking input thread must not stop the others from flushing.
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Counters the input threads keep for the banner and the audit record.
#[derive(Default)]
struct Counters {
    dropped: AtomicU64,
}

fn capture_thread(
    mut cap: sekimori_capture::live::LiveCapture,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    counters: Arc<Counters>,
    errors: mpsc::UnboundedSender<anyhow::Error>,
) {
    let mut n: u64 = 0;
    while !stop.load(Ordering::Relaxed) {
        match cap.next_packet() {
            Ok(Some(p)) => {
                let ts = Timestamp(u64::try_from(p.ts.as_nanos()).unwrap_or(0));
                lock(&state).an.frame(ts, p.link, p.origlen.max(p.caplen), p.data);
                n += 1;
            }
            Ok(None) => n = n.wrapping_add(1 << 10),
            Err(e) => {
                let _ = errors.send(anyhow::Error::from(e));
                break;
            }
        }
        if n >= 1 << 10 {
            n = 0;
            if let Ok(s) = cap.stats() {
                counters
                    .dropped
                    .store(u64::from(s.dropped) + u64::from(s.if_dropped), Ordering::Relaxed);
            }
        }
    }
    if let Ok(s) = cap.stats() {
        counters.dropped.store(u64::from(s.dropped) + u64::from(s.if_dropped), Ordering::Relaxed);
    }
}

fn collector_thread(
    mut c: Collector,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    errors: mpsc::UnboundedSender<anyhow::Error>,
) {
    while !stop.load(Ordering::Relaxed) {
        match c.recv() {
            Ok(Some(d)) => {
                let ts = Timestamp(u64::try_from(d.received.as_nanos()).unwrap_or(0));
                lock(&state).an.export_datagram_received(ts, d.exporter, d.bytes);
            }
            Ok(None) => {}
            Err(e) => {
                let _ = errors.send(anyhow::Error::from(e));
                break;
            }
        }
    }
}

fn init_tracing(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SEKIMORI_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ =
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

async fn wait_for_signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) =
        (signal(SignalKind::terminate()), signal(SignalKind::interrupt()))
    else {
        std::future::pending::<()>().await;
        return "unreachable";
    };
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    }
}

/// Takes a delta and writes it with what earlier failed flushes left.
struct Flusher {
    store: Store,
    state: Arc<Mutex<State>>,
    pending: Vec<ConversationBucket>,
    lost: u64,
}

impl Flusher {
    async fn flush(&mut self, last: bool) -> Result<(Written, Delta)> {
        let delta = {
            let mut g = lock(&self.state);
            let st = &mut *g;
            if last {
                st.feed.take_final(&mut st.an)
            } else {
                st.feed.take(&mut st.an, Some(wall_clock()))
            }
        };
        self.pending.extend(delta.conversations.iter().filter_map(bucket));
        if self.pending.len() > MAX_PENDING_BUCKETS {
            let over = self.pending.len() - MAX_PENDING_BUCKETS;
            self.pending.drain(..over);
            self.lost += over as u64;
            tracing::warn!(
                message = "Conversation buckets dropped: the store could not be written for long.",
                dropped = over
            );
        }
        let written = write(&self.store, &delta.assets, &self.pending).await?;
        self.pending.clear();
        lock(&self.state).feed.sent(&delta.assets);
        Ok((written, delta))
    }
}

pub async fn sensor(cli: &Cli, args: &SensorArgs, lang: Lang) -> Result<ExitCode> {
    let (inst, _created) = open(cli).await?;
    init_tracing(&inst.config.log.level);
    let mut set = inst.config.sensor.clone();
    if args.interface.is_some() {
        set.interface = args.interface.clone();
    }
    if args.filter.is_some() {
        set.filter = args.filter.clone();
    }
    if !args.collectors.is_empty() {
        set.collectors = args.collectors.clone();
    }
    if let Some(s) = args.flush_secs {
        set.flush_secs = s;
    }
    if let Some(m) = args.max_flows {
        set.max_flows = m;
    }
    if args.policy.is_some() {
        set.policy = args.policy.clone();
    }
    set.validate().context("[sensor]")?;
    if set.interface.is_none() && set.collectors.is_empty() {
        inst.store.close().await;
        anyhow::bail!(
            "{}",
            lang.pick(
                "入力がありません：--interface IF か --collector ADDR:PORT を指定してください（config.toml の [sensor] でも可）",
                "nothing to read: give --interface IF or --collector ADDR:PORT (or set them in [sensor] of config.toml)"
            )
        );
    }
    if set.filter.is_some() && set.interface.is_none() {
        anyhow::bail!("--filter applies to --interface only");
    }

    // Open every input before anything runs: a wrong interface, filter or
    // address is reported at once.
    let capture = match &set.interface {
        Some(ifname) => {
            let mut cfg = sekimori_capture::live::LiveConfig::new(ifname.clone());
            cfg.filter = set.filter.clone();
            Some(sekimori_capture::live::LiveCapture::open(&cfg)?)
        }
        None => None,
    };
    let mut collectors = Vec::new();
    for addr in &set.collectors {
        collectors.push(Collector::bind(*addr, Duration::from_millis(100))?);
    }
    let bound: Vec<String> = collectors.iter().map(|c| c.local_addr().to_string()).collect();

    let opts = Options {
        flows: FlowConfig { max_flows: set.max_flows, ..FlowConfig::default() },
        ..Options::default()
    };
    let detector = match super::detect::detector(set.policy.as_deref(), lang) {
        Ok(d) => d,
        Err(problems) => {
            inst.store.close().await;
            anyhow::bail!("{}", problems.join("\n"));
        }
    };
    let mut alerting = match &detector {
        None => None,
        Some(_) => Some(
            super::alerting::Alerting::start(
                &inst.config.forward,
                &cli.data_dir.join("forward").join("sensor"),
            )
            .await?,
        ),
    };
    let mut analyzer = Analyzer::new(&opts);
    if let Some(d) = &detector {
        d.learn_from_store(&inst.store).await;
        analyzer.on_progress(d.sink());
    }
    let state = Arc::new(Mutex::new(State { an: analyzer, feed: Feed::new() }));
    let stop = Arc::new(AtomicBool::new(false));
    let counters = Arc::new(Counters::default());
    let (err_tx, mut err_rx) = mpsc::unbounded_channel();
    let mut threads = Vec::new();
    if let Some(cap) = capture {
        let (st, sp, co, tx) = (state.clone(), stop.clone(), counters.clone(), err_tx.clone());
        threads.push(
            std::thread::Builder::new()
                .name("sensor-capture".into())
                .spawn(move || capture_thread(cap, st, sp, co, tx))?,
        );
    }
    for c in collectors {
        let (st, sp, tx) = (state.clone(), stop.clone(), err_tx.clone());
        threads.push(
            std::thread::Builder::new()
                .name("sensor-collector".into())
                .spawn(move || collector_thread(c, st, sp, tx))?,
        );
    }
    drop(err_tx);

    let sys = AuditCtx { actor: Actor::System, source: None };
    inst.store
        .append(
            &sys,
            AuditEvent::SensorStarted {
                version: env!("CARGO_PKG_VERSION").into(),
                interface: set.interface.clone(),
                filter: set.filter.clone(),
                collectors: bound.clone(),
            },
        )
        .await?;

    crate::output::say(
        lang,
        "sekimori センサーを起動しました。",
        "The sekimori sensor is running.",
    );
    if let Some(i) = &set.interface {
        println!("  {}: {i}", lang.pick("キャプチャ", "capturing on"));
        if let Some(f) = &set.filter {
            println!("  {}: {f}", lang.pick("フィルター", "filter"));
        }
    }
    for b in &bound {
        println!("  {}: {b}", lang.pick("フロー収集", "collector listening on"));
    }
    println!("  {}: {}", lang.pick("データベース", "database"), inst.store.backend().as_str());
    println!("  {}: {}s", lang.pick("書き込み間隔", "flush interval"), set.flush_secs);
    if let Some(p) = &set.policy {
        println!("  {}: {}", lang.pick("ポリシー", "policy"), p.display());
    }
    println!("ready");
    flush_stdout();
    tracing::info!(message = "Sensor started.", interface = ?set.interface, collectors = ?bound);

    let mut flusher =
        Flusher { store: inst.store.clone(), state: state.clone(), pending: Vec::new(), lost: 0 };
    let mut every = tokio::time::interval(Duration::from_secs(set.flush_secs));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    every.tick().await;
    // Detections run every second: flows' progress, time, alerts.
    let mut detect_every = tokio::time::interval(Duration::from_secs(1));
    detect_every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut drafts: Vec<sekimori_types::AlertDraft> = Vec::new();
    let signal = wait_for_signal();
    tokio::pin!(signal);
    let mut failure: Option<anyhow::Error> = None;
    let reason = loop {
        tokio::select! {
            s = &mut signal => break s.to_owned(),
            _ = detect_every.tick(), if detector.is_some() => {
                if let (Some(d), Some(a)) = (&detector, alerting.as_mut()) {
                    lock(&state).an.advance(wall_clock());
                    raise_alerts(d, a, &inst.store, &mut drafts, lang).await;
                }
            }
            // Drafts from packet-driven progress: raised at once.
            _ = async { if let Some(d) = &detector { d.drafts_waiting().await } else { std::future::pending().await } } => {
                if let (Some(d), Some(a)) = (&detector, alerting.as_mut()) {
                    raise_alerts(d, a, &inst.store, &mut drafts, lang).await;
                }
            }
            Some(e) = err_rx.recv() => {
                let r = format!("input failed: {e:#}");
                failure = Some(e);
                break r;
            }
            _ = every.tick() => {
                match flusher.flush(false).await {
                    Ok((w, d)) => {
                        report(lang, &w, &d, &state);
                        // Names and roles just written help zone the next flows.
                        if let Some(det) = &detector {
                            det.learn_from_store(&inst.store).await;
                        }
                    }
                    Err(e) => tracing::warn!(
                        message = "Flush failed; retrying at the next one.",
                        error = format!("{e:#}")
                    ),
                }
            }
        }
    };

    stop.store(true, Ordering::Relaxed);
    for t in threads {
        let _ = tokio::task::spawn_blocking(move || t.join()).await;
    }
    let last = flusher.flush(true).await;
    if let (Some(d), Some(mut a)) = (&detector, alerting.take()) {
        raise_alerts(d, &mut a, &inst.store, &mut drafts, lang).await;
        if !drafts.is_empty() {
            tracing::error!(message = "Alerts not stored at stop.", count = drafts.len());
        }
        a.shutdown().await;
    }
    match &last {
        Ok((w, d)) => report(lang, w, d, &state),
        Err(e) => tracing::error!(message = "Last flush failed.", error = format!("{e:#}")),
    }
    let stats = lock(&state).an.stats();
    inst.store
        .append(
            &sys,
            AuditEvent::SensorStopped {
                reason: reason.clone(),
                packets: stats.packets,
                dropped: counters.dropped.load(Ordering::Relaxed),
                imported_flows: stats.imported_flows,
            },
        )
        .await?;
    tracing::info!(message = "Sensor stopped.", reason = %reason, packets = stats.packets);
    crate::output::say(lang, "センサーを停止しました。", "The sensor stopped.");
    inst.store.close().await;
    if let Some(e) = failure {
        return Err(e);
    }
    last?;
    Ok(ExitCode::SUCCESS)
}

/// Most alert drafts kept for a retry while the store cannot be written.
const MAX_PENDING_DRAFTS: usize = 10_000;

/// Takes the engine's drafts and stores and forwards them with any that
/// an earlier failure left; prints one line per new alert.
async fn raise_alerts(
    d: &super::detect::Detector,
    a: &mut super::alerting::Alerting,
    store: &Store,
    drafts: &mut Vec<sekimori_types::AlertDraft>,
    lang: Lang,
) {
    drafts.extend(d.take());
    if drafts.is_empty() {
        return;
    }
    match a.raise(store, drafts).await {
        Ok(raised) => {
            for r in raised.iter().filter(|r| r.new || r.escalated) {
                println!(
                    "{}: [{}] {} {}",
                    lang.pick("アラート", "alert"),
                    r.alert.severity,
                    r.alert.kind,
                    lang.pick(&r.alert.summary_ja, &r.alert.summary)
                );
            }
            flush_stdout();
            drafts.clear();
        }
        Err(e) => {
            if drafts.len() > MAX_PENDING_DRAFTS {
                let over = drafts.len() - MAX_PENDING_DRAFTS;
                drafts.drain(..over);
                tracing::error!(
                    message = "Alert drafts dropped: the store could not be written for long.",
                    dropped = over
                );
            }
            tracing::warn!(
                message = "Alerts not stored; retrying in a second.",
                error = format!("{e:#}")
            );
        }
    }
}

fn flush_stdout() {
    use std::io::Write;
    let _ = std::io::stdout().flush();
}

/// One line per flush that wrote something.
fn report(lang: Lang, w: &Written, d: &Delta, state: &Mutex<State>) {
    if w.assets == 0 && w.buckets == 0 && d.flows_ended == 0 {
        return;
    }
    let s = lock(state).an.stats();
    match lang {
        Lang::Ja => println!(
            "書き込み: 機器 {}（新規 {}）、通信 {} 件、終了フロー {}（累計 パケット {}、取り込みフロー {}）",
            w.assets, w.assets_created, w.buckets, d.flows_ended, s.packets, s.imported_flows
        ),
        Lang::En => println!(
            "flushed: {} assets ({} new), {} conversation buckets, {} flows ended (total {} packets, {} imported flows)",
            w.assets, w.assets_created, w.buckets, d.flows_ended, s.packets, s.imported_flows
        ),
    }
    flush_stdout();
}

/// `sekimori analyze FILE... --store`: the offline analysis written to the
/// store (inventory and conversations) instead of printed. A file that
/// cannot be read on stops the analysis; what was read before is still
/// stored, and the exit code is 2.
pub async fn analyze_store(cli: &Cli, args: &AnalyzeArgs, lang: Lang) -> Result<ExitCode> {
    let (inst, _created) = open(cli).await?;
    let opts = Options {
        flows: FlowConfig { max_flows: args.max_flows.max(1), ..FlowConfig::default() },
        identify: !args.no_identify,
        ..Options::default()
    };
    let detector = match super::detect::detector(args.policy.as_deref(), lang) {
        Ok(d) => d,
        Err(problems) => {
            inst.store.close().await;
            anyhow::bail!("{}", problems.join("\n"));
        }
    };
    if let Some(d) = &detector {
        d.learn_from_store(&inst.store).await;
    }
    let files = args.files.clone();
    let sink = detector.as_ref().map(super::detect::Detector::sink);
    let out = tokio::task::spawn_blocking(move || match sink {
        Some(sink) => sekimori_sensor::analyze_files_with_progress(&files, &opts, sink),
        None => sekimori_sensor::analyze_files(&files, &opts),
    })
    .await
    .context("the analysis stopped")?;
    let a = &out.analysis;
    let buckets: Vec<ConversationBucket> = a.conversations.iter().filter_map(bucket).collect();
    let written = write(&inst.store, &a.assets, &buckets).await;
    // Alerts of a capture replayed into the store: stored and forwarded
    // like the live sensor's.
    let mut alerts = super::alerting::AlertCounts::default();
    let raised: Result<()> = async {
        let Some(d) = &detector else { return Ok(()) };
        let mut a = super::alerting::Alerting::start(
            &inst.config.forward,
            &cli.data_dir.join("forward").join("analyze"),
        )
        .await?;
        let r = a.raise(&inst.store, &d.take()).await;
        alerts = a.counts;
        a.shutdown().await;
        r.map(|_| ())
    }
    .await;
    inst.store.close().await;
    let written = written?;
    raised?;
    if args.format == AnalyzeFormat::Json {
        crate::output::json(&json!({
            "stored": written,
            "alerts": alerts,
            "files": a.stats.files,
            "packets": a.stats.packets,
            "flows": a.flows.len(),
        }));
    } else {
        match lang {
            Lang::Ja => println!(
                "保存しました: 機器 {}（新規 {}）、通信 {} 件（{} ファイル、{} パケット、フロー {}）",
                written.assets,
                written.assets_created,
                written.buckets,
                a.stats.files,
                a.stats.packets,
                a.flows.len()
            ),
            Lang::En => println!(
                "stored: {} assets ({} new), {} conversation buckets ({} file(s), {} packets, {} flows)",
                written.assets,
                written.assets_created,
                written.buckets,
                a.stats.files,
                a.stats.packets,
                a.flows.len()
            ),
        }
    }
    match out.error {
        None => Ok(ExitCode::SUCCESS),
        Some(e) => {
            crate::output::error(lang, &anyhow::Error::from(e));
            Ok(ExitCode::from(2))
        }
    }
}
