//! The runtime: one durable queue and one delivery task per destination.
//!
//! [`ForwarderHandle::submit`] formats the alert for each destination and
//! appends it to that destination's queue (synced to disk before it
//! returns), then wakes the delivery tasks. Each task sends its queue in
//! order, marks records delivered only once the transport took them, and
//! retries with capped exponential backoff. A destination that is down
//! delays only itself: the caller waits for disk writes, never for a SIEM.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use time::OffsetDateTime;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tracing::{error, info, warn};

use sekimori_types::{Alert, AlertSeverity, SharedClock, SystemClock};

use crate::config::{DestinationConfig, DestinationKind, ForwardConfig, Transport};
use crate::error::ForwardError;
use crate::format::{self, MessageSettings};
use crate::queue::{Batch, Queue, QueueOptions};
use crate::transport::{Link, SyslogTarget, WebhookTarget};

/// Most records sent in one write (TCP/TLS) or one go (UDP, webhook).
const BATCH_RECORDS: usize = 64;
/// Most payload bytes sent in one write.
const BATCH_BYTES: usize = 256 * 1024;
/// How long `start` waits for queues another forwarder still holds.
const LOCK_WAIT: Duration = Duration::from_secs(3);
/// Largest host name read from the system.
const HOSTNAME_CAP: u64 = 256;

/// Starts forwarders.
#[derive(Debug, Clone, Copy)]
pub struct Forwarder;

impl Forwarder {
    /// Validates `config`, opens (or creates) one queue per destination
    /// under `queue_dir/<name>/`, and starts the delivery tasks. Queued
    /// records from an earlier run are delivered first.
    pub async fn start(
        config: ForwardConfig,
        queue_dir: impl AsRef<Path>,
    ) -> Result<ForwarderHandle, ForwardError> {
        Self::start_with_clock(config, queue_dir, Arc::new(SystemClock)).await
    }

    /// [`Forwarder::start`] with the clock that stamps messages.
    pub async fn start_with_clock(
        config: ForwardConfig,
        queue_dir: impl AsRef<Path>,
        clock: SharedClock,
    ) -> Result<ForwarderHandle, ForwardError> {
        config.validate()?;
        let queue_dir = queue_dir.as_ref().to_owned();
        // A forwarder just dropped in this process may still be finishing
        // a send and hold its queues for a moment: wait for it, briefly.
        let deadline = tokio::time::Instant::now() + LOCK_WAIT;
        let dests = loop {
            let (c, q) = (config.clone(), queue_dir.clone());
            match blocking(move || open_destinations(&c, &q)).await {
                Err(ForwardError::QueueLocked { .. }) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                other => break other?,
            }
        };
        let (stop, stop_rx) = watch::channel(false);
        let tasks =
            dests.iter().map(|d| tokio::spawn(deliver(d.clone(), stop_rx.clone()))).collect();
        Ok(ForwarderHandle { dests, tasks, stop, clock })
    }
}

fn system_hostname() -> String {
    let read = |p: &str| crate::tls::read_capped("host name", Path::new(p), HOSTNAME_CAP).ok();
    let raw = read("/proc/sys/kernel/hostname").or_else(|| read("/etc/hostname"));
    format::sanitize_hostname(
        raw.as_deref().map(String::from_utf8_lossy).as_deref().unwrap_or("").trim(),
    )
}

fn open_destinations(
    config: &ForwardConfig,
    queue_dir: &Path,
) -> Result<Vec<Arc<Destination>>, ForwardError> {
    let hostname = match &config.hostname {
        Some(h) => format::sanitize_hostname(h),
        None => system_hostname(),
    };
    let mut out = Vec::with_capacity(config.destinations.len());
    for (i, c) in config.destinations.iter().enumerate() {
        let field = format!("destinations[{i}]");
        let target = match c.kind {
            DestinationKind::Webhook => Target::Webhook(WebhookTarget::new(&field, c)?),
            DestinationKind::Syslog | DestinationKind::Cef => {
                Target::Syslog(SyslogTarget::new(&field, c)?)
            }
        };
        let settings = MessageSettings {
            facility: c.facility,
            hostname: hostname.clone(),
            max_bytes: c.message_cap(),
        };
        let dir = queue_dir.join(&c.name);
        let (queue, damage) = Queue::open(
            &dir,
            &c.name,
            QueueOptions { segment_bytes: config.segment_bytes, max_bytes: c.queue_max_bytes },
        )?;
        let d = Destination {
            name: c.name.clone(),
            kind: c.kind,
            min_severity: c.min_severity,
            settings,
            queue,
            target,
            notify: Notify::new(),
            stats: Stats::default(),
            backoff_initial: Duration::from_millis(c.backoff_initial_ms),
            backoff_max: Duration::from_millis(c.backoff_max_ms),
            dir,
        };
        for e in damage {
            d.stats.corrupt_records.fetch_add(1, Ordering::Relaxed);
            error!(message = "Queue damage found; the good records are kept.", destination = %d.name, error = %e);
            d.stats.set_error(&e);
        }
        info!(
            message = "Forwarding destination ready.",
            destination = %d.name,
            kind = d.kind.as_str(),
            target = %d.target.describe(),
            queued = d.queue.len(),
        );
        out.push(Arc::new(d));
    }
    Ok(out)
}

#[derive(Debug)]
enum Target {
    Syslog(SyslogTarget),
    Webhook(WebhookTarget),
}

impl Target {
    fn describe(&self) -> String {
        match self {
            Target::Syslog(t) => format!("{}://{}", t.transport().as_str(), t.address),
            Target::Webhook(t) => t.origin.clone(),
        }
    }
}

#[derive(Debug, Default)]
struct Stats {
    delivered: AtomicU64,
    failed_attempts: AtomicU64,
    corrupt_records: AtomicU64,
    connected: AtomicBool,
    last_error: Mutex<Option<String>>,
}

impl Stats {
    fn set_error(&self, e: &ForwardError) {
        *self.last_error.lock().unwrap_or_else(PoisonError::into_inner) = Some(e.to_string());
    }
}

#[derive(Debug)]
struct Destination {
    name: String,
    kind: DestinationKind,
    min_severity: AlertSeverity,
    settings: MessageSettings,
    queue: Queue,
    target: Target,
    notify: Notify,
    stats: Stats,
    backoff_initial: Duration,
    backoff_max: Duration,
    dir: PathBuf,
}

impl Destination {
    fn format(&self, alert: &Alert, at: OffsetDateTime) -> Vec<u8> {
        match self.kind {
            DestinationKind::Syslog => format::rfc5424(alert, at, &self.settings).into_bytes(),
            DestinationKind::Cef => format::cef_message(alert, at, &self.settings).into_bytes(),
            DestinationKind::Webhook => {
                format::webhook_body(alert, at, &self.settings.hostname, self.settings.max_bytes)
            }
        }
    }

    fn status(&self) -> DestinationStatus {
        DestinationStatus {
            name: self.name.clone(),
            kind: self.kind,
            queued: self.queue.len() as u64,
            queued_bytes: self.queue.queued_bytes(),
            delivered: self.stats.delivered.load(Ordering::Relaxed),
            failed_attempts: self.stats.failed_attempts.load(Ordering::Relaxed),
            refused: self.queue.refused(),
            corrupt_records: self.stats.corrupt_records.load(Ordering::Relaxed),
            connected: self.stats.connected.load(Ordering::Relaxed),
            last_error: self
                .stats
                .last_error
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
            queue_dir: self.dir.clone(),
        }
    }
}

/// Counters of one destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestinationStatus {
    pub name: String,
    pub kind: DestinationKind,
    /// Records waiting on disk.
    pub queued: u64,
    pub queued_bytes: u64,
    /// Records the destination took since start.
    pub delivered: u64,
    /// Failed connects and sends since start (each retried).
    pub failed_attempts: u64,
    /// Alerts refused because the queue was at its cap, since start.
    pub refused: u64,
    /// Damaged queue records found (at start or on reading) and skipped.
    pub corrupt_records: u64,
    /// Whether the last connection attempt or send succeeded.
    pub connected: bool,
    /// The last error, as text (never holds the webhook token or URL path).
    pub last_error: Option<String>,
    pub queue_dir: PathBuf,
}

/// What [`ForwarderHandle::submit`] did with an alert.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubmitReport {
    /// Destinations whose queue now holds the alert (durably).
    pub queued: Vec<String>,
    /// Destinations whose `min_severity` is above the alert's.
    pub filtered: Vec<String>,
}

/// A running forwarder. Dropping it stops the delivery tasks (what is
/// queued stays on disk); [`ForwarderHandle::shutdown`] also waits for
/// them.
#[derive(Debug)]
pub struct ForwarderHandle {
    dests: Vec<Arc<Destination>>,
    tasks: Vec<JoinHandle<()>>,
    stop: watch::Sender<bool>,
    clock: SharedClock,
}

impl ForwarderHandle {
    /// Queues `alert` for every destination whose `min_severity` it meets.
    /// Returns once it is on disk for each of them. If some queue refuses
    /// (full, disk error), the alert is still queued for the others and the
    /// error names the destinations that did not take it.
    pub async fn submit(&self, alert: &Alert) -> Result<SubmitReport, ForwardError> {
        let at = self.clock.now();
        let mut report = SubmitReport::default();
        let mut writes = Vec::new();
        for d in &self.dests {
            if alert.severity < d.min_severity {
                report.filtered.push(d.name.clone());
                continue;
            }
            let payload = d.format(alert, at);
            let d = d.clone();
            writes.push(tokio::task::spawn_blocking(move || {
                let r = d.queue.append(&payload);
                (d, r)
            }));
        }
        let mut refused = Vec::new();
        let mut first = None;
        for w in writes {
            let (d, r) = w.await.map_err(|e| ForwardError::Task(e.to_string()))?;
            match r {
                Ok(_) => {
                    d.notify.notify_one();
                    report.queued.push(d.name.clone());
                }
                Err(e) => {
                    warn!(message = "Alert not queued.", destination = %d.name, alert_id = %alert.id, error = %e);
                    d.stats.set_error(&e);
                    refused.push(d.name.clone());
                    first.get_or_insert(e);
                }
            }
        }
        match first {
            None => Ok(report),
            Some(e) => Err(ForwardError::NotQueued { destinations: refused, first: Box::new(e) }),
        }
    }

    /// Counters per destination, in configuration order.
    pub fn status(&self) -> Vec<DestinationStatus> {
        self.dests.iter().map(|d| d.status()).collect()
    }

    /// Stops the delivery tasks and waits for them: a send under way is
    /// finished (within its write timeout), nothing queued is lost.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        for t in self.tasks.drain(..) {
            let _ = t.await;
        }
    }
}

impl Drop for ForwarderHandle {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ForwardError> + Send + 'static,
) -> Result<T, ForwardError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| ForwardError::Task(e.to_string()))?
}

/// Waits `d` unless told to stop; true when stopping.
async fn pause(d: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        () = tokio::time::sleep(d) => *stop.borrow(),
        r = stop.changed() => r.is_err() || *stop.borrow(),
    }
}

/// One destination's delivery loop.
async fn deliver(d: Arc<Destination>, mut stop: watch::Receiver<bool>) {
    let mut link: Option<Link> = None;
    let mut backoff = d.backoff_initial;
    loop {
        if *stop.borrow() {
            break;
        }
        let dq = d.clone();
        let batch: Batch = match blocking(move || dq.queue.peek(BATCH_RECORDS, BATCH_BYTES)).await {
            Ok(b) => b,
            Err(e) => {
                fail(&d, &e, backoff);
                if pause(backoff, &mut stop).await {
                    break;
                }
                backoff = (backoff * 2).min(d.backoff_max);
                continue;
            }
        };
        for e in &batch.skipped {
            d.stats.corrupt_records.fetch_add(1, Ordering::Relaxed);
            error!(message = "Damaged queue record skipped.", destination = %d.name, error = %e);
            d.stats.set_error(e);
        }
        if batch.records.is_empty() {
            if !batch.skipped.is_empty() {
                continue;
            }
            tokio::select! {
                () = d.notify.notified() => {}
                r = stop.changed() => if r.is_err() || *stop.borrow() { break },
            }
            continue;
        }
        let (sent, result) = match &d.target {
            Target::Syslog(t) => send_syslog(&d, t, &mut link, &batch).await,
            Target::Webhook(t) => send_webhook(t, &batch).await,
        };
        if sent > 0 {
            let through = batch.records.get(sent - 1).map_or(0, |r| r.seq);
            let dq = d.clone();
            if let Err(e) = blocking(move || dq.queue.ack(through)).await {
                // The records went out; only the cursor is behind, so they
                // may be sent again after a restart (at least once).
                error!(message = "Cannot persist the delivery cursor.", destination = %d.name, error = %e);
                d.stats.set_error(&e);
            }
            d.stats.delivered.fetch_add(sent as u64, Ordering::Relaxed);
        }
        match result {
            Ok(()) => {
                d.stats.connected.store(true, Ordering::Relaxed);
                backoff = d.backoff_initial;
            }
            Err(e) => {
                if let (Some(l), Target::Syslog(t)) = (link.take(), &d.target) {
                    t.close(l).await;
                }
                fail(&d, &e, backoff);
                if pause(backoff, &mut stop).await {
                    break;
                }
                backoff = (backoff * 2).min(d.backoff_max);
            }
        }
    }
    if let (Some(l), Target::Syslog(t)) = (link.take(), &d.target) {
        t.close(l).await;
    }
}

fn fail(d: &Destination, e: &ForwardError, retry_in: Duration) {
    d.stats.failed_attempts.fetch_add(1, Ordering::Relaxed);
    d.stats.connected.store(false, Ordering::Relaxed);
    d.stats.set_error(e);
    warn!(
        message = "Delivery failed; will retry.",
        destination = %d.name,
        error = %e,
        retry_in_ms = u64::try_from(retry_in.as_millis()).unwrap_or(u64::MAX),
        queued = d.queue.len(),
    );
}

/// Sends a batch to a syslog destination, connecting first if needed.
/// Returns how many records were taken (all or none).
async fn send_syslog(
    d: &Destination,
    t: &SyslogTarget,
    link: &mut Option<Link>,
    batch: &Batch,
) -> (usize, Result<(), ForwardError>) {
    if link.as_mut().is_some_and(Link::peer_closed) {
        if let Some(l) = link.take() {
            t.close(l).await;
        }
        info!(message = "Destination closed the connection; reconnecting.", destination = %d.name);
    }
    if link.is_none() {
        match t.connect().await {
            Ok(l) => {
                info!(message = "Connected.", destination = %d.name, address = %t.address, transport = t.transport().as_str());
                *link = Some(l);
            }
            Err(e) => return (0, Err(e)),
        }
    }
    let Some(l) = link.as_mut() else {
        return (0, Err(ForwardError::PeerClosed { address: t.address.clone() }));
    };
    match t.send(l, &batch.records).await {
        Ok(()) => (batch.records.len(), Ok(())),
        Err(e) => {
            if t.transport() == Transport::Udp {
                // A refused datagram (ICMP) says nothing about the next one.
                *link = None;
            }
            (0, Err(e))
        }
    }
}

/// POSTs the batch's records one by one; stops at the first failure.
async fn send_webhook(t: &WebhookTarget, batch: &Batch) -> (usize, Result<(), ForwardError>) {
    for (i, r) in batch.records.iter().enumerate() {
        if let Err(e) = t.post(r.payload.clone()).await {
            return (i, Err(e));
        }
    }
    (batch.records.len(), Ok(()))
}

/// The queue directory of a destination (`<queue_dir>/<name>`).
pub fn destination_queue_dir(queue_dir: &Path, destination: &DestinationConfig) -> PathBuf {
    queue_dir.join(&destination.name)
}
