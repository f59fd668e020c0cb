//! Exfiltration: bytes from an inside host to the internet over a sliding
//! window, against a fixed threshold and against the host's own baseline.

use std::net::IpAddr;

use sekimori_proto::App;
use sekimori_types::{AlertDraft, AlertKind, AlertSeverity, Evidence, EvidenceAsset, EvidenceFlow};
use time::OffsetDateTime;

use super::bounded::Bounded;
use super::perflow::FlowState;
use super::{FlowEvent, Key, Pending, rebuild, text};
use crate::{ExfiltrationConfig, Policy, Transport, ZoneRef};

/// Buckets per window.
const BUCKETS: usize = 60;
/// Flows kept per host for the evidence (the largest recent ones).
const CONTRIBS: usize = 8;
/// Windows a host must have been followed before its baseline counts.
const BASELINE_MIN_WINDOWS: u32 = 3;
/// Weight of the newest window in the baseline.
const ALPHA: f64 = 0.2;

#[derive(Debug)]
pub(crate) struct Exfil {
    threshold: u64,
    window: i64,
    bucket: i64,
    buckets: i64,
    factor: f64,
    min_baseline: u64,
    hosts: Bounded<IpAddr, Host>,
}

#[derive(Debug)]
struct Host {
    ring: [u64; BUCKETS],
    /// Bucket number (unix seconds / bucket width) of the newest bucket.
    head: i64,
    sum: u64,
    over_threshold: bool,
    over_baseline: bool,
    baseline: f64,
    closed: u32,
    /// Start (unix seconds) of the current tumbling window, and its bytes.
    cur_start: i64,
    cur: u64,
    last: i64,
    zone: ZoneRef,
    name: Option<Box<str>>,
    flows: [Option<Contrib>; CONTRIBS],
}

#[derive(Debug, Clone)]
struct Contrib {
    flow: u64,
    src: IpAddr,
    dst: IpAddr,
    sport: u16,
    dport: u16,
    transport: Transport,
    app: Option<App>,
    /// Bytes leaving through this flow (while kept).
    bytes: u64,
    out_total: u64,
    in_total: u64,
    first: OffsetDateTime,
    last: OffsetDateTime,
    /// The outside end and what it is called (SNI, DNS, inventory).
    peer: IpAddr,
    peer_name: Option<Box<str>>,
}

impl Exfil {
    pub(crate) fn new(cfg: &ExfiltrationConfig, cap: usize) -> Exfil {
        let window = i64::try_from(cfg.window.as_secs()).unwrap_or(i64::MAX / 4).max(1);
        let bucket = ((window + BUCKETS as i64 - 1) / BUCKETS as i64).max(1);
        let buckets = ((window + bucket - 1) / bucket).clamp(1, BUCKETS as i64);
        Exfil {
            threshold: cfg.threshold_bytes,
            window,
            bucket,
            buckets,
            factor: cfg.baseline_factor,
            min_baseline: cfg.min_baseline_bytes,
            hosts: Bounded::new(cap),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.hosts.len()
    }
    pub(crate) fn evicted(&self) -> u64 {
        self.hosts.evicted()
    }
    pub(crate) fn within_limits(&self) -> bool {
        self.hosts.len() <= self.hosts.cap()
    }

    /// `bytes` more from `host` (inside) to the internet in this event.
    pub(crate) fn add(
        &mut self,
        policy: &Policy,
        pending: &mut Pending,
        st: &FlowState,
        ev: &FlowEvent<'_>,
        host: IpAddr,
        bytes: u64,
    ) {
        let t = ev.at.unix_timestamp();
        let (zone, names, peer, peer_names) = if host == ev.src {
            (st.src_zone, ev.src_hints.names, ev.dst, ev.dst_hints.names)
        } else {
            (st.dst_zone, ev.dst_hints.names, ev.src, ev.src_hints.names)
        };
        let (window, factor, min_baseline) = (self.window, self.factor, self.min_baseline);
        let (h, _) = self.hosts.get_or_insert(
            host,
            || Host::new(t, zone),
            // Nothing in its window and no baseline worth keeping.
            |h| h.last < t - window && h.baseline < 1.0,
        );
        if h.name.is_none()
            && let Some(n) = text::first_name(names)
        {
            h.name = Some(n.into());
        }
        h.last = h.last.max(t);
        h.close_windows(t, window);
        h.advance(t.div_euclid(self.bucket), self.buckets);
        let blimit = baseline_limit(h, factor, min_baseline);
        if h.sum <= self.threshold {
            h.over_threshold = false;
        }
        if blimit.is_none_or(|l| (h.sum as f64) <= l) {
            h.over_baseline = false;
        }
        h.put(t.div_euclid(self.bucket), self.buckets, bytes);
        h.cur = h.cur.saturating_add(bytes);
        h.contribute(ev, st, bytes, peer, peer_names, t - window);

        let basis = if h.sum > self.threshold && !h.over_threshold {
            h.over_threshold = true;
            h.over_baseline = blimit.is_some_and(|l| h.sum as f64 > l);
            Basis::Threshold
        } else if let Some(l) = blimit
            && h.sum as f64 > l
            && !h.over_baseline
        {
            h.over_baseline = true;
            Basis::Baseline(l)
        } else {
            return;
        };
        let h = &*h;
        let cfg = (self.threshold, self.window, self.factor);
        pending.emit(AlertKind::Exfiltration, Key::Exfiltration(host), rebuild(), || {
            draft(policy, ev, host, h, basis, cfg)
        });
    }
}

/// The baseline limit, once the host has one.
fn baseline_limit(h: &Host, factor: f64, min_baseline: u64) -> Option<f64> {
    (h.closed >= BASELINE_MIN_WINDOWS && factor > 0.0)
        .then(|| factor * h.baseline.max(min_baseline as f64))
}

#[derive(Clone, Copy)]
enum Basis {
    Threshold,
    Baseline(f64),
}

impl Host {
    fn new(t: i64, zone: ZoneRef) -> Host {
        Host {
            ring: [0; BUCKETS],
            head: i64::MIN,
            sum: 0,
            over_threshold: false,
            over_baseline: false,
            baseline: 0.0,
            closed: 0,
            cur_start: t,
            cur: 0,
            last: t,
            zone,
            name: None,
            flows: Default::default(),
        }
    }

    /// Folds the tumbling windows that ended by `t` into the baseline.
    fn close_windows(&mut self, t: i64, window: i64) {
        if t < self.cur_start.saturating_add(window) {
            return;
        }
        let k = (t - self.cur_start) / window;
        let cur = self.cur as f64;
        self.baseline =
            if self.closed == 0 { cur } else { ALPHA * cur + (1.0 - ALPHA) * self.baseline };
        // Windows without a byte pull the baseline down.
        let empty = i32::try_from(k - 1).unwrap_or(i32::MAX);
        self.baseline *= (1.0 - ALPHA).powi(empty);
        self.closed = self.closed.saturating_add(u32::try_from(k).unwrap_or(u32::MAX));
        self.cur = 0;
        self.cur_start = self.cur_start.saturating_add(k.saturating_mul(window));
    }

    /// Moves the newest bucket to `b`, emptying the buckets it passes.
    fn advance(&mut self, b: i64, n: i64) {
        if self.head == i64::MIN || b.saturating_sub(self.head) >= n {
            self.ring = [0; BUCKETS];
            self.sum = 0;
            self.head = b;
            return;
        }
        while self.head < b {
            self.head += 1;
            if let Some(slot) = self.ring.get_mut(slot_of(self.head, n)) {
                self.sum = self.sum.saturating_sub(*slot);
                *slot = 0;
            }
        }
    }

    /// Adds bytes at bucket `b` (late events land in the newest bucket).
    fn put(&mut self, b: i64, n: i64, bytes: u64) {
        let b = if b > self.head - n { b.min(self.head) } else { self.head };
        if let Some(slot) = self.ring.get_mut(slot_of(b, n)) {
            *slot = slot.saturating_add(bytes);
        }
        self.sum = self.sum.saturating_add(bytes);
    }

    fn contribute(
        &mut self,
        ev: &FlowEvent<'_>,
        st: &FlowState,
        bytes: u64,
        peer: IpAddr,
        peer_names: &[String],
        horizon: i64,
    ) {
        if let Some(c) = self.flows.iter_mut().flatten().find(|c| c.flow == ev.flow) {
            c.bytes = c.bytes.saturating_add(bytes);
            c.last = c.last.max(ev.at);
            c.app = ev.app.or(c.app);
            (c.out_total, c.in_total) = (st.bytes_out, st.bytes_in);
            return;
        }
        // A free slot, else one gone out of the window, else the smallest.
        let victim = self.flows.iter_mut().min_by_key(|c| match c {
            None => (0, 0),
            Some(c) if c.last.unix_timestamp() < horizon => (1, c.bytes),
            Some(c) => (2, c.bytes),
        });
        let Some(slot) = victim else { return };
        if let Some(c) = slot
            && c.last.unix_timestamp() >= horizon
            && c.bytes >= bytes
        {
            return;
        }
        let peer_name = ev
            .server_names
            .first()
            .map(String::as_str)
            .or_else(|| text::first_name(peer_names))
            .map(Box::from);
        *slot = Some(Contrib {
            flow: ev.flow,
            src: ev.src,
            dst: ev.dst,
            sport: ev.sport,
            dport: ev.dport,
            transport: ev.transport,
            app: ev.app,
            bytes,
            out_total: st.bytes_out,
            in_total: st.bytes_in,
            first: ev.first,
            last: ev.at,
            peer,
            peer_name,
        });
    }
}

fn slot_of(b: i64, n: i64) -> usize {
    usize::try_from(b.rem_euclid(n.max(1))).unwrap_or(0)
}

fn draft(
    policy: &Policy,
    ev: &FlowEvent<'_>,
    host: IpAddr,
    h: &Host,
    basis: Basis,
    (threshold, window, factor): (u64, i64, f64),
) -> AlertDraft {
    let horizon = ev.at.unix_timestamp() - window;
    let mut flows: Vec<&Contrib> =
        h.flows.iter().flatten().filter(|c| c.last.unix_timestamp() >= horizon).collect();
    flows.sort_by_key(|c| std::cmp::Reverse(c.bytes));
    // Destinations by bytes (over the flows kept).
    let mut peers: Vec<(IpAddr, Option<&str>, u64)> = Vec::new();
    for c in &flows {
        match peers.iter_mut().find(|p| p.0 == c.peer) {
            Some(p) => p.2 = p.2.saturating_add(c.bytes),
            None => peers.push((c.peer, c.peer_name.as_deref(), c.bytes)),
        }
    }
    peers.sort_by_key(|p| std::cmp::Reverse(p.2));
    let peer_label = |p: &(IpAddr, Option<&str>, u64)| match p.1 {
        Some(n) => format!("{n} ({}): {}", p.0, text::bytes(p.2)),
        None => format!("{}: {}", p.0, text::bytes(p.2)),
    };
    let top: Vec<String> = peers.iter().take(5).map(peer_label).collect();
    let name = h.name.as_deref().map(|n| vec![n.to_owned()]).unwrap_or_default();
    let label = text::label(host, &name);
    let zone = policy.zone(h.zone);
    let win = std::time::Duration::from_secs(u64::try_from(window).unwrap_or(0));
    let (w_en, w_ja) = (text::dur_en(win), text::dur_ja(win));
    let sent = text::bytes(h.sum);
    let top_en = top.first().map(|t| format!(" Largest destination: {t}.")).unwrap_or_default();
    let top_ja = top.first().map(|t| format!("主な送信先：{t}。")).unwrap_or_default();
    let mut evidence = Evidence::default();
    evidence.assets.push(EvidenceAsset {
        ip: host,
        name: h.name.as_deref().map(str::to_owned),
        zone: Some(zone.name.clone()),
    });
    for p in peers.iter().take(5) {
        evidence.assets.push(EvidenceAsset {
            ip: p.0,
            name: p.1.map(str::to_owned),
            zone: Some(
                text::zone_name(policy, policy.zone_of(p.0, &Default::default())).to_owned(),
            ),
        });
    }
    for c in &flows {
        evidence.push_flow(EvidenceFlow {
            src: c.src,
            dst: c.dst,
            sport: c.sport,
            dport: c.dport,
            transport: text::transport(c.transport).to_owned(),
            app: c.app.map(|a| a.as_str().to_owned()),
            bytes_out: c.out_total,
            bytes_in: c.in_total,
            first: c.first,
            last: c.last,
        });
    }
    evidence.bytes = Some(h.sum);
    evidence
        .detail("window_seconds", window)
        .detail("threshold_bytes", threshold)
        .detail("top_destinations", top.join("; "));
    let (summary, summary_ja) = match basis {
        Basis::Threshold => {
            evidence.detail("basis", "threshold");
            (
                format!(
                    "{label} (zone \"{}\") sent {sent} to the internet in the last {w_en}, above the threshold of {} per {w_en}.{top_en}",
                    zone.name,
                    text::bytes(threshold)
                ),
                format!(
                    "ゾーン「{}」の {label} が直近{w_ja}でインターネットへ {sent} を送信しました（しきい値：{w_ja}あたり {}）。{top_ja}",
                    zone.name,
                    text::bytes(threshold)
                ),
            )
        }
        Basis::Baseline(limit) => {
            let usual = text::bytes(h.baseline as u64);
            let ratio = if h.baseline >= 1.0 { h.sum as f64 / h.baseline } else { f64::INFINITY };
            let times_en = if ratio.is_finite() {
                format!("{ratio:.0} times its usual")
            } else {
                "far above its usual".to_owned()
            };
            let times_ja = if ratio.is_finite() {
                format!("普段（{w_ja}あたり {usual}）の約 {ratio:.0} 倍")
            } else {
                format!("普段（{w_ja}あたり {usual}）を大きく超える量")
            };
            evidence
                .detail("basis", "baseline")
                .detail("baseline_bytes", h.baseline as u64)
                .detail("baseline_factor", factor)
                .detail("limit_bytes", limit as u64);
            (
                format!(
                    "{label} (zone \"{}\") sent {sent} to the internet in the last {w_en}, {times_en} {usual} per {w_en} (alert above {factor} × its baseline).{top_en}",
                    zone.name
                ),
                format!(
                    "ゾーン「{}」の {label} が直近{w_ja}でインターネットへ {sent} を送信しました。{times_ja}です（基準：普段の {factor} 倍）。{top_ja}",
                    zone.name
                ),
            )
        }
    };
    let default = if zone.critical { AlertSeverity::Critical } else { AlertSeverity::High };
    let first = flows.iter().map(|c| c.first).min().unwrap_or(ev.first);
    AlertDraft {
        kind: AlertKind::Exfiltration,
        severity: policy.detections().severity(AlertKind::Exfiltration, default),
        dedup_key: format!("exfiltration|{host}"),
        summary,
        summary_ja,
        evidence,
        first,
        last: ev.at,
        count: 1,
    }
}
