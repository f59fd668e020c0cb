//! The detection engine (`sekimori_policy::detect`) fed by the sensor's
//! flow progress, for `sekimori analyze --policy` and `sekimori sensor`.
//!
//! The engine starts at the first thing it is told (the capture's first
//! second offline, the first packet or tick live), so the learning period
//! of "new device/talker/protocol" counts from there.
//!
//! Zones may name assets, tags and roles, not only ranges. A flow alone
//! rarely names its hosts, so the detector keeps a bounded directory of
//! what it knows of each address: names earlier flows gave it (DHCP,
//! NetBIOS, DNS), and — with a store — the registered devices' names and
//! the sensor's observed names and role guesses ([`Detector::learn_from_store`]).

use std::borrow::Cow;
use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde_json::{Value, json};
use time::OffsetDateTime;

use sekimori_policy::detect::{Engine, EngineStats, FlowEvent};
use sekimori_policy::{AssetHints, Policy, Transport};
use sekimori_proto::{FactKey, Subject};
use sekimori_sensor::{Progress, ProgressSink, Timestamp};
use sekimori_types::{AlertDraft, Lang};

/// The detector of a policy file, if one is given; `Err` holds every
/// problem as `FILE:LINE:COL: key: message` in the user's language.
pub fn detector(path: Option<&Path>, lang: Lang) -> Result<Option<Detector>, Vec<String>> {
    let Some(path) = path else { return Ok(None) };
    Policy::load(path).map(|p| Some(Detector::new(Arc::new(p)))).map_err(|e| e.lines(lang))
}

/// The engine, shared between the analysis (through its progress sink)
/// and whoever takes the drafts.
#[derive(Clone, Debug)]
pub struct Detector {
    policy: Arc<Policy>,
    engine: Arc<Mutex<State>>,
    /// Woken when the engine goes from no drafts to some, so a live
    /// caller raises them at once (not at its next tick).
    raised: Arc<tokio::sync::Notify>,
}

#[derive(Debug, Default)]
struct State {
    engine: Option<Engine>,
    known: Directory,
}

/// Most addresses the directory holds; past it, new addresses are not
/// remembered (the flow's own names still count).
const MAX_KNOWN_HOSTS: usize = 65_536;
/// Most names kept per address.
const MAX_KNOWN_NAMES: usize = 8;

/// What is known of hosts beyond one flow (see the module notes).
#[derive(Debug, Default)]
struct Directory {
    hosts: HashMap<IpAddr, Known, foldhash::fast::RandomState>,
}

#[derive(Debug, Default)]
struct Known {
    names: Vec<String>,
    role: Option<String>,
}

impl Directory {
    fn entry(&mut self, ip: IpAddr) -> Option<&mut Known> {
        if self.hosts.len() >= MAX_KNOWN_HOSTS && !self.hosts.contains_key(&ip) {
            return None;
        }
        Some(self.hosts.entry(ip).or_default())
    }

    fn add_names(&mut self, ip: IpAddr, names: &[String]) {
        if names.is_empty() {
            return;
        }
        let Some(k) = self.entry(ip) else { return };
        for n in names {
            if k.names.len() < MAX_KNOWN_NAMES && !k.names.iter().any(|x| x.eq_ignore_ascii_case(n))
            {
                k.names.push(n.clone());
            }
        }
    }

    /// The flow's own names, then the remembered ones.
    fn names<'a>(&'a self, ip: IpAddr, own: &'a [String]) -> Cow<'a, [String]> {
        match self.hosts.get(&ip) {
            None => Cow::Borrowed(own),
            Some(k) if own.is_empty() => Cow::Borrowed(&k.names),
            Some(k) => {
                let mut all = own.to_vec();
                all.extend(k.names.iter().filter(|n| !own.contains(n)).cloned());
                Cow::Owned(all)
            }
        }
    }

    fn role(&self, ip: IpAddr) -> Option<&str> {
        self.hosts.get(&ip).and_then(|k| k.role.as_deref())
    }
}

fn time_of(t: Timestamp) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(t.0)).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

impl Detector {
    pub fn new(policy: Arc<Policy>) -> Detector {
        Detector {
            policy,
            engine: Arc::new(Mutex::new(State::default())),
            raised: Arc::new(tokio::sync::Notify::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere must not stop detection.
        self.engine.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The sink to give [`sekimori_sensor::Analyzer::on_progress`].
    pub fn sink(&self) -> ProgressSink {
        let me = self.clone();
        Box::new(move |p| me.progress(p))
    }

    fn progress(&self, p: Progress<'_>) {
        let mut guard = self.lock();
        let at = match &p {
            Progress::Flow(u) => time_of(u.last),
            Progress::Tick(t) => time_of(*t),
        };
        let State { engine, known } = &mut *guard;
        let engine = engine.get_or_insert_with(|| Engine::new(Arc::clone(&self.policy), at));
        let had = engine.pending() > 0;
        match p {
            Progress::Tick(_) => engine.tick(at),
            Progress::Flow(u) => {
                // Names the flow's own payload gave its ends (a DHCP or
                // NetBIOS name of the client, the server's DNS name) and the
                // names it asked for or reached (DNS query, SNI, Host).
                let mut src_names: Vec<String> = Vec::new();
                let mut dst_names: Vec<String> = Vec::new();
                let mut server_names: Vec<String> = Vec::new();
                for f in u.facts {
                    match f.key {
                        FactKey::DnsQuery | FactKey::TlsSni | FactKey::HttpHost => {
                            server_names.push(f.value.clone());
                        }
                        FactKey::Hostname | FactKey::NetbiosName | FactKey::DnsName => {
                            match f.subject {
                                Subject::Client => src_names.push(f.value.clone()),
                                Subject::Server => dst_names.push(f.value.clone()),
                                // DHCP names the client by its MAC; a client
                                // that already has its address (a renewal)
                                // sends from it.
                                Subject::Mac(_) if u.dport == 67 && !u.src.is_unspecified() => {
                                    src_names.push(f.value.clone());
                                }
                                _ => {}
                            }
                        }
                        _ => {}
                    }
                }
                known.add_names(u.src, &src_names);
                known.add_names(u.dst, &dst_names);
                let src_all = known.names(u.src, &src_names);
                let dst_all = known.names(u.dst, &dst_names);
                let ev = FlowEvent {
                    flow: u.id,
                    src: u.src,
                    dst: u.dst,
                    sport: u.sport,
                    dport: u.dport,
                    transport: match u.protocol {
                        6 => Transport::Tcp,
                        17 => Transport::Udp,
                        _ => Transport::Other,
                    },
                    app: u.app,
                    bytes_out: u.bytes_out,
                    bytes_in: u.bytes_in,
                    // The sensor reports bytes, not packets, per update:
                    // a side with bytes in this update sent at least one
                    // packet (what the detections ask of these counters).
                    packets_out: u64::from(u.bytes_out > 0),
                    packets_in: u64::from(u.bytes_in > 0),
                    first: time_of(u.first),
                    at,
                    ended: u.ended,
                    src_hints: AssetHints {
                        names: &src_all,
                        role: known.role(u.src),
                        ..AssetHints::default()
                    },
                    dst_hints: AssetHints {
                        names: &dst_all,
                        role: known.role(u.dst),
                        ..AssetHints::default()
                    },
                    server_names: &server_names,
                };
                engine.flow(&ev);
            }
        }
        if !had && engine.pending() > 0 {
            self.raised.notify_one();
        }
    }

    /// Adds what the store knows of hosts to the directory: each registered
    /// device's name at its addresses, each observed device's names and
    /// role guess. Called at start and after each flush; a failed read
    /// leaves the directory as it was.
    pub async fn learn_from_store(&self, store: &sekimori_store::Store) {
        use sekimori_store::{AssetRepo, InventoryFilter, InventoryRepo};
        let registered = store.list_assets().await.unwrap_or_default();
        let observed = store
            .list_observed(&InventoryFilter { limit: 5_000, ..InventoryFilter::default() })
            .await
            .unwrap_or_default();
        let mut guard = self.lock();
        let known = &mut guard.known;
        for a in &registered {
            let name = [a.name.to_string()];
            for ip in &a.addresses {
                known.add_names(*ip, &name);
            }
        }
        for a in &observed {
            for ip in &a.ips {
                known.add_names(*ip, &a.names);
                if let (Some(role), Some(k)) = (&a.role, known.entry(*ip)) {
                    k.role = Some(role.clone());
                }
            }
        }
    }

    /// Resolves when drafts are waiting (or were raised since the last take).
    pub async fn drafts_waiting(&self) {
        self.raised.notified().await;
    }

    /// The drafts raised since the last take.
    pub fn take(&self) -> Vec<AlertDraft> {
        self.lock().engine.as_mut().map(Engine::take).unwrap_or_default()
    }

    /// The engine's counters (none before it started).
    pub fn stats(&self) -> Option<EngineStats> {
        self.lock().engine.as_ref().map(Engine::stats)
    }
}

/// An alert as `sekimori analyze` prints it (design.md's contract: `kind`,
/// `severity`, `summary`, `evidence`; plus the Japanese summary, the span
/// and the count).
pub fn alert_json(d: &AlertDraft) -> Value {
    json!({
        "kind": d.kind,
        "severity": d.severity,
        "summary": d.summary,
        "summary_ja": d.summary_ja,
        "evidence": d.evidence,
        "first": sekimori_types::rfc3339(d.first),
        "last": sekimori_types::rfc3339(d.last),
        "count": d.count,
        "dedup_key": d.dedup_key,
    })
}
