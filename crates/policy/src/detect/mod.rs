//! The detection engine: flow updates in, [`AlertDraft`]s out.
//!
//! The sensor reports each flow as a stream of [`FlowEvent`]s (first
//! packets, then about once a second of packet time while it carries
//! traffic, then its end); [`Engine::flow`] evaluates each against the
//! [`Policy`] and keeps the little state the detections need, and
//! [`Engine::tick`] lets time pass (silence, window expiry). Pure logic:
//! no I/O, no threads, no clock — time comes with the events and ticks
//! (packet time for a capture, wall time live).
//!
//! # Detections
//!
//! Inside means "in a zone other than `internet`" (the hospital's ranges
//! and any zone the policy defines, such as a vendor's cloud PACS);
//! *internal* means inside the hospital's ranges ([`Policy::is_internal`]).
//! A host *sends* in an event when it is the client and `packets_out > 0`,
//! or the server and `packets_in > 0`.
//!
//! 1. **Segmentation violation** — on a flow's first event, and again when
//!    its identified application changes the decision,
//!    [`Policy::check_flow`]`(zone(src), zone(dst), app, transport, dport)`.
//!    Denied: high when either zone is critical, else medium. Key:
//!    source address, destination zone, application or `port/transport`.
//! 2. **Exfiltration** — per inside host, bytes to `internet` hosts
//!    (`bytes_out` of flows it opened, `bytes_in` of flows an internet host
//!    opened to it) over a sliding window of `window` kept as 60 buckets (a
//!    bucket is `window / 60`, at least a second). An alert when the window
//!    sum goes above `threshold`, or — once the host has a baseline (three
//!    windows closed) — above `baseline_factor` × max(baseline,
//!    `min_baseline`), where the baseline is an EWMA (α = 0.2) of the bytes
//!    of each tumbling window. One alert per crossing: the sum has to fall
//!    back to the limit before it can alert again. Critical when the
//!    host's zone is critical, else high. Key: the host.
//! 3. **Unmanaged remote access** — a flow identified as VPN (IKE, ESP,
//!    OpenVPN, WireGuard, AnyConnect, FortiGate SSL-VPN, DTLS on a VPN
//!    port) or remote desktop/support (RDP, VNC, TeamViewer, AnyDesk) with
//!    one end inside, where neither end's zone is the gateway zone and
//!    [`crate::RemoteAccessConfig::is_expected`] says no. High, critical
//!    across the internet boundary. A flow no probe identified, on such a
//!    service's usual port, that carried packets both ways and is still
//!    unidentified after 5 s (or at its end), alerts one step lower and
//!    says it rests on the port number only. Key: the inside endpoint (the
//!    server when both are inside) and the application.
//! 4. **New device / talker / protocol** — only once the learning period
//!    since `started` is over, and for a device first seen after it, only
//!    once its own learning period is over. New device: an internal
//!    address that sends for the first time (medium; high in a critical
//!    zone). New talker: an internal host sending to or answering a peer
//!    it never talked with; internet peers count as one peer, "the
//!    internet", unless the host's zone is critical (low; medium in a
//!    critical zone). New protocol: an internal host sending in a flow of
//!    an application it never used, as client or server (low; medium in a
//!    critical zone). Keys: the host (peers and protocols gathered in the
//!    evidence).
//! 5. **Silence** — each watch's target (an asset by name, an address, or
//!    each host of a zone) is seen when it sends (in a flow of one of the
//!    watch's `protocols`, when it lists any); at a tick later than the
//!    last sighting + `window`, one alert (critical when its zone is
//!    critical, else high). Traffic re-arms it. Never for a target never
//!    seen. Key: the watch and the address.
//! 6. **Lateral movement** — one internal host opening flows to
//!    `fan_out` or more distinct internal hosts within `window` over the
//!    configured protocols (identified, or for unidentified TCP by port:
//!    445/139 SMB, 3389 RDP, 22 SSH) or WinRM (5985/5986, unidentified or
//!    HTTP/TLS). High. One alert per crossing. Key: the source.
//! 7. **Indicator match** — either address matches
//!    [`crate::Indicators::match_ip`], or a `server_names` entry
//!    [`crate::Indicators::match_name`]. High; critical when the inside
//!    host is in a critical zone. Key: the host and the indicator.
//!
//! Severity overrides in `[detections.severity]` replace these defaults.
//! Drafts with the same key raised between two [`Engine::take`]s come out
//! as one, with a count. Every map is capped ([`Limits`]); what a cap
//! pushes out is counted in [`EngineStats::evictions`].

mod bounded;
mod exfil;
mod lateral;
mod novelty;
mod perflow;
mod silence;
#[cfg(test)]
mod tests;
mod text;

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use sekimori_proto::App;
use sekimori_types::{AlertDraft, AlertKind};
use time::OffsetDateTime;

use self::bounded::{Bounded, Hasher};
use crate::{AssetHints, Policy, Transport, ZoneRef};

/// One update of one flow, as the sensor reports it: when a flow starts,
/// then about once a second of packet time while it carries traffic, and
/// when it ends. Counters are deltas since this flow's previous event.
#[derive(Debug, Clone, Copy)]
pub struct FlowEvent<'a> {
    /// Stable for the flow's life: a new flow is the first event with this id.
    pub flow: u64,
    /// The client (the side that opened the flow).
    pub src: IpAddr,
    /// The server.
    pub dst: IpAddr,
    pub sport: u16,
    pub dport: u16,
    pub transport: Transport,
    /// Identified from the payload; may first appear in a later event.
    pub app: Option<App>,
    /// Client → server bytes since the previous event.
    pub bytes_out: u64,
    /// Server → client bytes since the previous event.
    pub bytes_in: u64,
    pub packets_out: u64,
    pub packets_in: u64,
    /// The flow's first packet.
    pub first: OffsetDateTime,
    /// This update (the last packet counted).
    pub at: OffsetDateTime,
    pub ended: bool,
    pub src_hints: AssetHints<'a>,
    pub dst_hints: AssetHints<'a>,
    /// DNS query names, TLS SNI, HTTP Host seen in this flow.
    pub server_names: &'a [String],
}

/// Caps on the engine's state. The defaults hold a large hospital in a
/// few tens of MB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Flows being followed.
    pub flows: usize,
    /// Hosts with bytes to the internet in their window.
    pub exfil_sources: usize,
    /// Hosts with lateral-movement candidates in their window.
    pub lateral_sources: usize,
    /// Distinct destinations kept per lateral-movement source (a
    /// `fan_out` above this acts as this).
    pub lateral_peers: usize,
    /// Internal devices known.
    pub devices: usize,
    /// Host–peer pairs known (new talker).
    pub talker_pairs: usize,
    /// Host–application pairs known (new protocol).
    pub protocol_pairs: usize,
    /// Hosts whose recent new peers/protocols are listed in their alert.
    pub recent: usize,
    /// Hosts followed by zone silence watches, over all watches.
    pub silence_members: usize,
    /// Distinct drafts waiting for [`Engine::take`]; past it, drafts are
    /// dropped and counted.
    pub pending: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            flows: 262_144,
            exfil_sources: 16_384,
            lateral_sources: 16_384,
            lateral_peers: 1024,
            devices: 65_536,
            talker_pairs: 1 << 20,
            protocol_pairs: 262_144,
            recent: 4096,
            silence_members: 16_384,
            pending: 4096,
        }
    }
}

/// Sizes of (or evictions from) each piece of state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StateCounts {
    pub flows: u64,
    pub exfil_sources: u64,
    pub lateral_sources: u64,
    pub devices: u64,
    pub talker_pairs: u64,
    pub protocol_pairs: u64,
    pub recent: u64,
    pub silence_members: u64,
    pub pending: u64,
}

/// The engine's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EngineStats {
    /// Flow events seen.
    pub events: u64,
    /// Flows seen (first events).
    pub flows_started: u64,
    /// Flows dropped after 10 minutes without an event (no `ended` seen).
    pub flows_expired: u64,
    pub ticks: u64,
    /// Occurrences raised per kind, before aggregation.
    pub raised: BTreeMap<AlertKind, u64>,
    /// Drafts handed out by [`Engine::take`] per kind, after aggregation.
    pub drafts: BTreeMap<AlertKind, u64>,
    /// Drafts dropped because [`Limits::pending`] distinct drafts were waiting.
    pub dropped: u64,
    pub sizes: StateCounts,
    /// Entries pushed out by a cap (they may alert again when seen anew).
    pub evictions: StateCounts,
}

/// A flow idle this long (packet time) without an `ended` event is forgotten.
const FLOW_IDLE_SECS: i64 = 600;

/// The detection engine over one policy. `Send`; one per analysis.
#[derive(Debug)]
pub struct Engine {
    policy: Arc<Policy>,
    flows: Bounded<u64, perflow::FlowState>,
    det: Detectors,
    last_sweep: i64,
    stats: EngineStats,
}

/// Everything but the flow table, so that a flow's state and the
/// detectors can be borrowed at once.
#[derive(Debug)]
struct Detectors {
    pending: Pending,
    exfil: exfil::Exfil,
    lateral: lateral::Lateral,
    novelty: novelty::Novelty,
    silence: silence::Silence,
    hasher: Hasher,
}

impl Engine {
    pub fn new(policy: Arc<Policy>, started: OffsetDateTime) -> Engine {
        Engine::with_limits(policy, started, Limits::default())
    }

    pub fn with_limits(policy: Arc<Policy>, started: OffsetDateTime, limits: Limits) -> Engine {
        let cfg = policy.detections();
        let det = Detectors {
            pending: Pending::new(limits.pending),
            exfil: exfil::Exfil::new(&cfg.exfiltration, limits.exfil_sources),
            lateral: lateral::Lateral::new(
                &cfg.lateral_movement,
                limits.lateral_sources,
                limits.lateral_peers,
            ),
            novelty: novelty::Novelty::new(&cfg.new_activity, started, &limits),
            silence: silence::Silence::new(&policy, limits.silence_members),
            hasher: Hasher::default(),
        };
        Engine {
            flows: Bounded::new(limits.flows),
            det,
            last_sweep: started.unix_timestamp(),
            stats: EngineStats::default(),
            policy,
        }
    }

    /// The policy the engine evaluates.
    pub fn policy(&self) -> &Arc<Policy> {
        &self.policy
    }

    /// One flow update.
    pub fn flow(&mut self, ev: &FlowEvent<'_>) {
        self.stats.events += 1;
        let at = ev.at.unix_timestamp();
        let policy = &*self.policy;
        let (st, new) = self.flows.get_or_insert(
            ev.flow,
            || perflow::FlowState::new(policy, ev),
            |s| s.last < at - FLOW_IDLE_SECS,
        );
        if new {
            self.stats.flows_started += 1;
        }
        self.det.on_event(policy, st, new, ev);
        if ev.ended {
            self.flows.remove(&ev.flow);
        }
    }

    /// Time passes: silence watches are checked, idle flows forgotten.
    pub fn tick(&mut self, now: OffsetDateTime) {
        self.stats.ticks += 1;
        let t = now.unix_timestamp();
        if t - self.last_sweep >= 60 {
            self.last_sweep = t;
            let expired = self.flows.retain(|s| s.last >= t - FLOW_IDLE_SECS);
            self.stats.flows_expired += expired as u64;
        }
        let Detectors { pending, silence, .. } = &mut self.det;
        silence.tick(&self.policy, now, pending);
    }

    /// The drafts raised since the last call, one per key, in the order
    /// they were first raised.
    /// Drafts waiting for [`Engine::take`] (cheap: for a caller that takes
    /// as soon as there is something).
    pub fn pending(&self) -> usize {
        self.det.pending.drafts.len()
    }

    pub fn take(&mut self) -> Vec<AlertDraft> {
        let out = self.det.pending.take();
        for d in &out {
            *self.stats.drafts.entry(d.kind).or_insert(0) += 1;
        }
        out
    }

    pub fn stats(&self) -> EngineStats {
        let mut s = self.stats.clone();
        s.raised = self.det.pending.raised.clone();
        s.dropped = self.det.pending.dropped;
        let d = &self.det;
        s.sizes = StateCounts {
            flows: self.flows.len() as u64,
            exfil_sources: d.exfil.len() as u64,
            lateral_sources: d.lateral.len() as u64,
            devices: d.novelty.devices_len() as u64,
            talker_pairs: d.novelty.pairs_len() as u64,
            protocol_pairs: d.novelty.protos_len() as u64,
            recent: d.novelty.recent_len() as u64,
            silence_members: d.silence.members_len() as u64,
            pending: d.pending.drafts.len() as u64,
        };
        s.evictions = StateCounts {
            flows: self.flows.evicted(),
            exfil_sources: d.exfil.evicted(),
            lateral_sources: d.lateral.evicted(),
            devices: d.novelty.devices_evicted(),
            talker_pairs: d.novelty.pairs_evicted(),
            protocol_pairs: d.novelty.protos_evicted(),
            recent: d.novelty.recent_evicted(),
            silence_members: d.silence.members_evicted(),
            pending: 0,
        };
        s
    }

    /// Whether every piece of state is within its cap (for tests).
    pub fn within_limits(&self) -> bool {
        let d = &self.det;
        self.flows.len() <= self.flows.cap()
            && d.exfil.within_limits()
            && d.lateral.within_limits()
            && d.novelty.within_limits()
            && d.silence.within_limits()
            && d.pending.drafts.len() <= d.pending.cap
    }
}

/// What makes two occurrences the same situation (the typed form of a
/// draft's `dedup_key`), so that a repeat finds its draft without building
/// any text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Key {
    Segmentation { src: IpAddr, to: ZoneRef, what: AppOrPort },
    Exfiltration(IpAddr),
    RemoteAccess { host: IpAddr, app: App },
    NewDevice(IpAddr),
    NewTalker(IpAddr),
    NewProtocol(IpAddr),
    Silence { watch: u16, host: Option<IpAddr> },
    Lateral(IpAddr),
    IndicatorIp { host: IpAddr, indicator: IpAddr },
    IndicatorName { host: IpAddr, name: u64 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum AppOrPort {
    App(App),
    Port(Transport, u16),
}

/// Drafts waiting for [`Engine::take`].
#[derive(Debug)]
struct Pending {
    drafts: Vec<AlertDraft>,
    index: HashMap<Key, usize, Hasher>,
    cap: usize,
    raised: BTreeMap<AlertKind, u64>,
    dropped: u64,
}

/// What to do with a repeat of a pending draft.
enum Repeat<F> {
    /// Count it (and whatever the closure adds: a flow, the last time).
    Bump(F),
    /// Build the draft again and absorb it (its details changed).
    Rebuild,
}

impl Pending {
    fn new(cap: usize) -> Pending {
        Pending {
            drafts: Vec::new(),
            index: HashMap::default(),
            cap: cap.max(1),
            raised: BTreeMap::new(),
            dropped: 0,
        }
    }

    fn emit<F: FnOnce(&mut AlertDraft)>(
        &mut self,
        kind: AlertKind,
        key: Key,
        repeat: Repeat<F>,
        build: impl FnOnce() -> AlertDraft,
    ) {
        *self.raised.entry(kind).or_insert(0) += 1;
        if let Some(&i) = self.index.get(&key) {
            if let Some(d) = self.drafts.get_mut(i) {
                match repeat {
                    Repeat::Bump(f) => {
                        d.count = d.count.saturating_add(1);
                        f(d);
                    }
                    Repeat::Rebuild => d.absorb(build()),
                }
            }
            return;
        }
        if self.drafts.len() >= self.cap {
            self.dropped += 1;
            return;
        }
        self.index.insert(key, self.drafts.len());
        self.drafts.push(build());
    }

    fn take(&mut self) -> Vec<AlertDraft> {
        self.index.clear();
        std::mem::take(&mut self.drafts)
    }
}

/// A bump that also widens the span and keeps the flow (up to the cap).
fn bump_with_flow<'e, 'a: 'e>(
    ev: &'e FlowEvent<'a>,
    out: u64,
    inn: u64,
) -> impl FnOnce(&mut AlertDraft) + 'e {
    move |d: &mut AlertDraft| {
        d.last = d.last.max(ev.at);
        d.first = d.first.min(ev.first);
        if d.evidence.flows.len() < sekimori_types::MAX_EVIDENCE_FLOWS {
            d.evidence.push_flow(text::flow(ev, out, inn));
        }
    }
}

/// `Repeat::Rebuild` with the closure type pinned.
fn rebuild() -> Repeat<fn(&mut AlertDraft)> {
    Repeat::Rebuild
}
