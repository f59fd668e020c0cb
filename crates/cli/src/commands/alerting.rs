//! Where a detecting process (`sekimori sensor`, `sekimori analyze
//! --policy --store`) puts its alerts: the store first (durable, audited,
//! aggregated by dedup key), then every `[forward]` destination's queue.
//!
//! Forwarded: every new alert, and an aggregated one whose severity rose
//! (a SIEM needs to hear that the nurse-call server's upload became
//! critical, not every recurrence; the count is in the store and the API).

use std::path::Path;

use anyhow::{Context, Result};

use sekimori_forward::{ForwardConfig, Forwarder, ForwarderHandle};
use sekimori_store::{AlertRepo, RaisedAlert, Store};
use sekimori_types::AlertDraft;

/// The store and the forwarders of one process.
#[derive(Debug)]
pub struct Alerting {
    forwarder: Option<ForwarderHandle>,
    /// Alerts stored, new ones, and forwarded.
    pub counts: AlertCounts,
}

/// What [`Alerting`] did so far.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct AlertCounts {
    pub drafts: u64,
    pub new: u64,
    pub forwarded: u64,
    pub forward_failed: u64,
}

impl Alerting {
    /// Starts the forwarders of `config` with their queues under
    /// `queue_dir/<process>/` (one process per queue: a queue is locked).
    pub async fn start(config: &ForwardConfig, queue_dir: &Path) -> Result<Alerting> {
        let forwarder =
            if config.destinations.is_empty() {
                None
            } else {
                Some(Forwarder::start(config.clone(), queue_dir).await.with_context(|| {
                    format!("starting the forwarders in {}", queue_dir.display())
                })?)
            };
        Ok(Alerting { forwarder, counts: AlertCounts::default() })
    }

    /// Stores `drafts` (in one commit) and forwards what needs forwarding.
    /// An error means the store refused: nothing of the batch was stored,
    /// and the caller keeps the drafts for the next try. A forwarder that
    /// cannot queue is logged and counted (the alert is in the store).
    pub async fn raise(
        &mut self,
        store: &Store,
        drafts: &[AlertDraft],
    ) -> Result<Vec<RaisedAlert>> {
        if drafts.is_empty() {
            return Ok(Vec::new());
        }
        let raised = store.raise_alerts(drafts).await.context("storing alerts")?;
        self.counts.drafts += drafts.len() as u64;
        for r in &raised {
            if r.new {
                self.counts.new += 1;
            }
            if r.new || r.escalated {
                self.forward(&r.alert).await;
            }
        }
        Ok(raised)
    }

    /// Queues a stored alert for every destination (logged and counted
    /// when a queue refuses it: the alert stays in the store).
    pub async fn forward(&mut self, alert: &sekimori_types::Alert) {
        let Some(fw) = &self.forwarder else { return };
        match fw.submit(alert).await {
            Ok(_) => self.counts.forwarded += 1,
            Err(e) => {
                self.counts.forward_failed += 1;
                tracing::error!(message = "Alert not queued for forwarding.", alert = %alert.id, error = %e);
            }
        }
    }

    /// Stops the forwarders (what is queued stays on disk for the next start).
    pub async fn shutdown(self) {
        if let Some(fw) = self.forwarder {
            fw.shutdown().await;
        }
    }
}
