//! Lateral movement: one internal host opening flows to many internal
//! hosts over SMB/RDP/SSH (or WinRM) in a short time.

use std::net::IpAddr;

use sekimori_proto::App;
use sekimori_types::{AlertDraft, AlertKind, AlertSeverity, Evidence};

use super::bounded::Bounded;
use super::perflow::{FlowState, done};
use super::{FlowEvent, Key, Pending, Repeat, bump_with_flow, text};
use crate::{LateralMovementConfig, Policy, Transport};

#[derive(Debug)]
pub(crate) struct Lateral {
    fan_out: usize,
    window: i64,
    apps: Vec<App>,
    peers_cap: usize,
    sources: Bounded<IpAddr, Source>,
}

#[derive(Debug)]
struct Source {
    /// Distinct destinations: address, unix seconds of the last flow, what.
    peers: Vec<(IpAddr, i64, Service)>,
    alerted: bool,
    last: i64,
}

/// What a lateral-movement flow was recognised as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Service {
    App(App),
    /// Unidentified, by its well-known port.
    Port(App, u16),
    WinRm(u16),
}

impl Service {
    fn describe(self) -> String {
        match self {
            Service::App(a) => a.as_str().to_owned(),
            Service::Port(a, p) => format!("{a}? (port {p})"),
            Service::WinRm(p) => format!("winrm (port {p})"),
        }
    }
    fn name(self) -> &'static str {
        match self {
            Service::App(a) | Service::Port(a, _) => a.as_str(),
            Service::WinRm(_) => "winrm",
        }
    }
}

impl Lateral {
    pub(crate) fn new(cfg: &LateralMovementConfig, cap: usize, peers_cap: usize) -> Lateral {
        let peers_cap = peers_cap.max(1);
        Lateral {
            fan_out: usize::try_from(cfg.fan_out).unwrap_or(usize::MAX).clamp(1, peers_cap),
            window: i64::try_from(cfg.window.as_secs()).unwrap_or(i64::MAX / 4).max(1),
            apps: cfg.protocols.clone(),
            peers_cap,
            sources: Bounded::new(cap),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.sources.len()
    }
    pub(crate) fn evicted(&self) -> u64 {
        self.sources.evicted()
    }
    pub(crate) fn within_limits(&self) -> bool {
        self.sources.len() <= self.sources.cap()
            && self.sources.values().all(|s| s.peers.len() <= self.peers_cap)
    }

    fn service(&self, app: Option<App>, t: Transport, port: u16) -> Option<Service> {
        if matches!(port, 5985 | 5986)
            && t == Transport::Tcp
            && matches!(app, None | Some(App::Http | App::Tls))
        {
            return Some(Service::WinRm(port));
        }
        match app {
            Some(a) => self.apps.contains(&a).then_some(Service::App(a)),
            None if t == Transport::Tcp => {
                let a = match port {
                    445 | 139 => App::Smb,
                    3389 => App::Rdp,
                    22 => App::Ssh,
                    _ => return None,
                };
                self.apps.contains(&a).then_some(Service::Port(a, port))
            }
            None => None,
        }
    }

    pub(crate) fn on_flow(
        &mut self,
        policy: &Policy,
        pending: &mut Pending,
        st: &mut FlowState,
        ev: &FlowEvent<'_>,
        app: Option<App>,
    ) {
        if ev.src == ev.dst || !policy.is_internal(ev.src) || !policy.is_internal(ev.dst) {
            st.set(done::LATERAL);
            return;
        }
        let Some(service) = self.service(app, ev.transport, ev.dport) else {
            // The application may still be identified in a later event.
            if app.is_some() || ev.ended {
                st.set(done::LATERAL);
            }
            return;
        };
        st.set(done::LATERAL);
        let t = ev.at.unix_timestamp();
        let window = self.window;
        let (s, _) = self.sources.get_or_insert(
            ev.src,
            || Source { peers: Vec::new(), alerted: false, last: t },
            |s| s.last < t - window,
        );
        s.last = s.last.max(t);
        let horizon = t - window;
        s.peers.retain(|p| p.1 >= horizon);
        if s.peers.len() < self.fan_out {
            s.alerted = false;
        }
        if let Some(p) = s.peers.iter_mut().find(|p| p.0 == ev.dst) {
            p.1 = p.1.max(t);
        } else if s.peers.len() < self.peers_cap {
            s.peers.push((ev.dst, t, service));
        } else if let Some(p) = s.peers.iter_mut().min_by_key(|p| p.1) {
            // Full: the oldest gives way.
            *p = (ev.dst, t, service);
        }
        if s.peers.len() < self.fan_out || s.alerted {
            return;
        }
        s.alerted = true;
        let s = &*s;
        let (fan_out, window) = (self.fan_out, self.window);
        let (out, inn) = (st.bytes_out, st.bytes_in);
        let src_zone = st.src_zone;
        pending.emit(
            AlertKind::LateralMovement,
            Key::Lateral(ev.src),
            Repeat::Bump(bump_with_flow(ev, out, inn)),
            || {
                let label = text::label(ev.src, ev.src_hints.names);
                let zn = text::zone_name(policy, src_zone);
                let n = s.peers.len();
                let mut names: Vec<&str> = s.peers.iter().map(|p| p.2.name()).collect();
                names.sort_unstable();
                names.dedup();
                let protos = names.join(", ");
                let win = std::time::Duration::from_secs(u64::try_from(window).unwrap_or(0));
                let peers: Vec<String> =
                    s.peers.iter().map(|p| format!("{} {}", p.0, p.2.describe())).collect();
                let mut evidence = Evidence::default();
                evidence.assets.push(text::asset(policy, ev.src, ev.src_hints.names, src_zone));
                for p in s.peers.iter().take(20) {
                    evidence.assets.push(text::asset(
                        policy,
                        p.0,
                        &[],
                        policy.zone_of(p.0, &Default::default()),
                    ));
                }
                evidence.push_flow(text::flow(ev, out, inn));
                evidence
                    .detail("peers", text::list(&peers, n as u64, 50))
                    .detail("peer_count", n)
                    .detail("fan_out", fan_out)
                    .detail("window_seconds", window)
                    .detail("protocols", &protos);
                AlertDraft {
                    kind: AlertKind::LateralMovement,
                    severity: policy
                        .detections()
                        .severity(AlertKind::LateralMovement, AlertSeverity::High),
                    dedup_key: format!("lateral_movement|{}", ev.src),
                    summary: format!(
                        "{label} (zone \"{zn}\") connected to {n} internal hosts over {protos} within {} (alert at {fan_out}): possible lateral movement.",
                        text::dur_en(win)
                    ),
                    summary_ja: format!(
                        "ゾーン「{zn}」の {label} が {}以内に {n} 台の内部機器へ {protos} で接続しました（しきい値 {fan_out} 台）。横展開（侵入の拡大）の可能性があります。",
                        text::dur_ja(win)
                    ),
                    evidence,
                    first: s
                        .peers
                        .iter()
                        .map(|p| p.1)
                        .min()
                        .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok())
                        .unwrap_or(ev.at),
                    last: ev.at,
                    count: 1,
                }
            },
        );
    }
}
