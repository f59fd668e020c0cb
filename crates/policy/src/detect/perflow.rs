//! A flow's state and the per-flow checks: segmentation, remote access,
//! indicators; then the flow is handed to the windowed detectors.

use std::hash::BuildHasher;
use std::net::IpAddr;

use sekimori_proto::App;
use sekimori_types::{AlertDraft, AlertKind, AlertSeverity, Evidence};

use super::text;
use super::{AppOrPort, Detectors, FlowEvent, Key, Repeat, bump_with_flow};
use crate::{FlowDecision, Policy, Transport, ZoneRef};

/// What the engine remembers of one flow (small and `Copy`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct FlowState {
    pub(crate) src_zone: ZoneRef,
    pub(crate) dst_zone: ZoneRef,
    /// The application the segmentation decision was made with.
    pub(crate) app: Option<App>,
    pub(crate) denied: bool,
    pub(crate) bytes_out: u64,
    pub(crate) bytes_in: u64,
    pub(crate) packets_out: u64,
    pub(crate) packets_in: u64,
    /// Unix seconds of the last event.
    pub(crate) last: i64,
    /// Fingerprint of the server names last checked against indicators.
    pub(crate) names: u64,
    pub(crate) done: u16,
}

/// Checks done for a flow (bits of `FlowState::done`).
pub(crate) mod done {
    pub(crate) const REMOTE: u16 = 1;
    pub(crate) const INDICATOR_IP: u16 = 1 << 1;
    pub(crate) const LATERAL: u16 = 1 << 2;
    pub(crate) const DEVICE_SRC: u16 = 1 << 3;
    pub(crate) const DEVICE_DST: u16 = 1 << 4;
    pub(crate) const TALKER_SRC: u16 = 1 << 5;
    pub(crate) const TALKER_DST: u16 = 1 << 6;
    pub(crate) const PROTO_SRC: u16 = 1 << 7;
    pub(crate) const PROTO_DST: u16 = 1 << 8;
}

impl FlowState {
    pub(crate) fn new(policy: &Policy, ev: &FlowEvent<'_>) -> FlowState {
        FlowState {
            src_zone: policy.zone_of(ev.src, &ev.src_hints),
            dst_zone: policy.zone_of(ev.dst, &ev.dst_hints),
            app: None,
            denied: false,
            bytes_out: 0,
            bytes_in: 0,
            packets_out: 0,
            packets_in: 0,
            last: ev.at.unix_timestamp(),
            names: 0,
            done: 0,
        }
    }

    pub(crate) fn is(&self, bit: u16) -> bool {
        self.done & bit != 0
    }

    pub(crate) fn set(&mut self, bit: u16) {
        self.done |= bit;
    }
}

/// Outside the hospital and every zone.
pub(crate) fn inside(z: ZoneRef) -> bool {
    z != ZoneRef::INTERNET
}

impl Detectors {
    pub(super) fn on_event(
        &mut self,
        policy: &Policy,
        st: &mut FlowState,
        new: bool,
        ev: &FlowEvent<'_>,
    ) {
        st.bytes_out = st.bytes_out.saturating_add(ev.bytes_out);
        st.bytes_in = st.bytes_in.saturating_add(ev.bytes_in);
        st.packets_out = st.packets_out.saturating_add(ev.packets_out);
        st.packets_in = st.packets_in.saturating_add(ev.packets_in);
        st.last = st.last.max(ev.at.unix_timestamp());
        let cfg = policy.detections();
        let app = ev.app.or(st.app);

        if new || app != st.app {
            let decision = policy.check_flow(st.src_zone, st.dst_zone, app, ev.transport, ev.dport);
            let denied = !decision.is_allowed();
            // Once per flow, or again when its application turned an
            // allowed flow into a denied one.
            if cfg.segmentation.enabled && denied && (new || !st.denied) {
                self.segmentation(policy, st, ev, app, decision);
            }
            st.denied = denied;
            st.app = app;
        }

        if cfg.indicators.enabled && !policy.indicators().is_empty() {
            self.indicators(policy, st, ev);
        }
        if cfg.remote_access.enabled && !st.is(done::REMOTE) {
            self.remote_access(policy, st, ev, app);
        }
        if cfg.exfiltration.enabled {
            let (host, bytes) = if inside(st.src_zone) && !inside(st.dst_zone) {
                (Some(ev.src), ev.bytes_out)
            } else if !inside(st.src_zone) && inside(st.dst_zone) {
                (Some(ev.dst), ev.bytes_in)
            } else {
                (None, 0)
            };
            if let Some(host) = host
                && bytes > 0
            {
                self.exfil.add(policy, &mut self.pending, st, ev, host, bytes);
            }
        }
        if cfg.lateral_movement.enabled && !st.is(done::LATERAL) {
            self.lateral.on_flow(policy, &mut self.pending, st, ev, app);
        }
        self.novelty.on_flow(policy, &mut self.pending, &self.hasher, st, ev, app);
        self.silence.on_flow(st, ev, app);
    }

    fn segmentation(
        &mut self,
        policy: &Policy,
        st: &FlowState,
        ev: &FlowEvent<'_>,
        app: Option<App>,
        decision: FlowDecision,
    ) {
        let (zs, zd) = (policy.zone(st.src_zone), policy.zone(st.dst_zone));
        let what = match app {
            Some(a) => AppOrPort::App(a),
            None => AppOrPort::Port(ev.transport, ev.dport),
        };
        let key = Key::Segmentation { src: ev.src, to: st.dst_zone, what };
        let (out, inn) = (st.bytes_out, st.bytes_in);
        self.pending.emit(
            AlertKind::SegmentationViolation,
            key,
            Repeat::Bump(bump_with_flow(ev, out, inn)),
            || {
                let critical = zs.critical || zd.critical;
                let default =
                    if critical { AlertSeverity::High } else { AlertSeverity::Medium };
                let src = text::label(ev.src, ev.src_hints.names);
                let dst = text::label(ev.dst, ev.dst_hints.names);
                let en_what = text::app_or_port_en(app, ev.transport, ev.dport);
                let ja_what = text::app_or_port_ja(app, ev.transport, ev.dport);
                let why_en = decision.describe(policy, sekimori_types::Lang::En);
                let why_ja = decision.describe(policy, sekimori_types::Lang::Ja);
                let mut evidence = Evidence::default();
                evidence.assets.push(text::asset(policy, ev.src, ev.src_hints.names, st.src_zone));
                evidence.assets.push(text::asset(policy, ev.dst, ev.dst_hints.names, st.dst_zone));
                evidence.push_flow(text::flow(ev, out, inn));
                evidence.detail("decision", &why_en);
                if let Some(r) = decision.rule() {
                    evidence.detail("rule", policy.rule(r).label(sekimori_types::Lang::En));
                }
                evidence.detail("from_zone", &zs.name).detail("to_zone", &zd.name);
                AlertDraft {
                    kind: AlertKind::SegmentationViolation,
                    severity: policy.detections().severity(AlertKind::SegmentationViolation, default),
                    dedup_key: format!(
                        "segmentation_violation|{}|{}|{}",
                        ev.src,
                        zd.name,
                        text::app_or_port_key(app, ev.transport, ev.dport)
                    ),
                    summary: format!(
                        "{src} in zone \"{}\" connected to {dst} in zone \"{}\" over {en_what}, which the policy does not allow ({why_en}).",
                        zs.name, zd.name
                    ),
                    summary_ja: format!(
                        "ゾーン「{}」の {src} が、ポリシーで許可されていない {ja_what} の通信でゾーン「{}」の {dst} に接続しました（{why_ja}）。",
                        zs.name, zd.name
                    ),
                    evidence,
                    first: ev.first,
                    last: ev.at,
                    count: 1,
                }
            },
        );
    }

    fn indicators(&mut self, policy: &Policy, st: &mut FlowState, ev: &FlowEvent<'_>) {
        let ind = policy.indicators();
        if !st.is(done::INDICATOR_IP) {
            st.set(done::INDICATOR_IP);
            // The other end is the host that talked to the listed address.
            for (listed, lz, host, hz, names) in [
                (ev.dst, st.dst_zone, ev.src, st.src_zone, ev.src_hints.names),
                (ev.src, st.src_zone, ev.dst, st.dst_zone, ev.dst_hints.names),
            ] {
                if let Some(source) = ind.match_ip(listed) {
                    let key = Key::IndicatorIp { host, indicator: listed };
                    let source = source.clone();
                    let (out, inn) = (st.bytes_out, st.bytes_in);
                    self.pending.emit(
                        AlertKind::IndicatorMatch,
                        key,
                        Repeat::Bump(bump_with_flow(ev, out, inn)),
                        || {
                            let listed_s = listed.to_string();
                            indicator_draft(
                                policy,
                                ev,
                                (host, hz, names),
                                (listed, lz),
                                &listed_s,
                                &source,
                                (out, inn),
                            )
                        },
                    );
                }
            }
        }
        if !ev.server_names.is_empty() {
            let fp = self.hasher.hash_one(ev.server_names);
            if fp != st.names {
                st.names = fp;
                for name in ev.server_names {
                    if let Some(source) = ind.match_name(name) {
                        let source = source.clone();
                        let key = Key::IndicatorName {
                            host: ev.src,
                            name: self.hasher.hash_one(name.trim().to_ascii_lowercase()),
                        };
                        let (out, inn) = (st.bytes_out, st.bytes_in);
                        self.pending.emit(
                            AlertKind::IndicatorMatch,
                            key,
                            Repeat::Bump(bump_with_flow(ev, out, inn)),
                            || {
                                indicator_draft(
                                    policy,
                                    ev,
                                    (ev.src, st.src_zone, ev.src_hints.names),
                                    (ev.dst, st.dst_zone),
                                    name.trim(),
                                    &source,
                                    (out, inn),
                                )
                            },
                        );
                    }
                }
            }
        }
    }

    fn remote_access(
        &mut self,
        policy: &Policy,
        st: &mut FlowState,
        ev: &FlowEvent<'_>,
        app: Option<App>,
    ) {
        let (zs, zd) = (st.src_zone, st.dst_zone);
        if !inside(zs) && !inside(zd) {
            st.set(done::REMOTE);
            return;
        }
        let (found, by_port) = match app {
            Some(a) => match remote_app(a, ev.transport, ev.dport) {
                Some(kind) => ((a, kind), false),
                None => {
                    st.set(done::REMOTE);
                    return;
                }
            },
            None => {
                let Some(hint) = remote_port_hint(ev.transport, ev.dport) else {
                    st.set(done::REMOTE);
                    return;
                };
                // Port only: wait until the flow is a session (packets both
                // ways) and identification had its chance (5 s or the end).
                let settled = ev.ended || (ev.at - ev.first).whole_seconds() >= 5;
                if !(st.packets_out > 0 && st.packets_in > 0 && settled) {
                    return;
                }
                (hint, true)
            }
        };
        st.set(done::REMOTE);
        let cfg = &policy.detections().remote_access;
        let gw = policy.gateway_zone();
        if gw == Some(zs) || gw == Some(zd) || cfg.is_expected(zs, zd) {
            return;
        }
        let (app, kind) = found;
        let boundary = !inside(zs) || !inside(zd);
        // The inside endpoint; the server when both are inside.
        let (host, host_names) =
            if inside(zd) { (ev.dst, ev.dst_hints.names) } else { (ev.src, ev.src_hints.names) };
        let (out, inn) = (st.bytes_out, st.bytes_in);
        self.pending.emit(
            AlertKind::UnmanagedRemoteAccess,
            Key::RemoteAccess { host, app },
            Repeat::Bump(bump_with_flow(ev, out, inn)),
            || {
                let default = match (boundary, by_port) {
                    (true, false) => AlertSeverity::Critical,
                    (false, false) | (true, true) => AlertSeverity::High,
                    (false, true) => AlertSeverity::Medium,
                };
                let src = text::label(ev.src, ev.src_hints.names);
                let dst = text::label(ev.dst, ev.dst_hints.names);
                let (zsn, zdn) = (text::zone_name(policy, zs), text::zone_name(policy, zd));
                let allowed: Vec<&str> = gw
                    .into_iter()
                    .chain(cfg.allowed_from.iter().copied())
                    .chain(cfg.allowed_to.iter().copied())
                    .map(|z| text::zone_name(policy, z))
                    .fold(Vec::new(), |mut v, n| {
                        if !v.contains(&n) {
                            v.push(n);
                        }
                        v
                    });
                let allowed = if allowed.is_empty() { "none".to_owned() } else { allowed.join(", ") };
                let (kind_en, kind_ja) = kind;
                let port = format!("{}/{}", ev.dport, text::transport(ev.transport));
                let boundary_en = if boundary { ", across the internet boundary" } else { "" };
                let boundary_ja = if boundary { "インターネットとの境界を越える" } else { "" };
                let (summary, summary_ja) = if by_port {
                    (
                        format!(
                            "Possible unmanaged remote access: {src} (zone \"{zsn}\") → {dst} (zone \"{zdn}\") on port {port}, the usual port of {app} ({kind_en}){boundary_en}, outside the access broker. This rests on the port number only: the payload did not confirm it. Remote access is expected only in zone(s): {allowed}."
                        ),
                        format!(
                            "管理外のリモートアクセスの可能性：ゾーン「{zsn}」の {src} からゾーン「{zdn}」の {dst} への{boundary_ja}通信が、アクセスブローカーを通らずにポート {port}（{app}（{kind_ja}）の通常のポート）で行われています。ポート番号だけによる推定で、通信内容では確認できていません。リモートアクセスを想定するゾーン：{allowed}。"
                        ),
                    )
                } else {
                    (
                        format!(
                            "Unmanaged remote access: {src} (zone \"{zsn}\") → {dst} (zone \"{zdn}\") uses {app} ({kind_en}){boundary_en}, outside the access broker. Remote access is expected only in zone(s): {allowed}."
                        ),
                        format!(
                            "管理外のリモートアクセス：ゾーン「{zsn}」の {src} からゾーン「{zdn}」の {dst} へ、アクセスブローカーを通らない{boundary_ja} {app}（{kind_ja}）の通信があります。リモートアクセスを想定するゾーン：{allowed}。"
                        ),
                    )
                };
                let mut evidence = Evidence::default();
                evidence.assets.push(text::asset(policy, ev.src, ev.src_hints.names, zs));
                evidence.assets.push(text::asset(policy, ev.dst, ev.dst_hints.names, zd));
                evidence.push_flow(text::flow(ev, out, inn));
                evidence
                    .detail("app", app)
                    .detail("identified_by", if by_port { "port" } else { "payload" })
                    .detail("port", &port)
                    .detail("internet_boundary", boundary)
                    .detail("allowed_zones", &allowed);
                evidence.detail("host", text::label(host, host_names));
                AlertDraft {
                    kind: AlertKind::UnmanagedRemoteAccess,
                    severity: policy.detections().severity(AlertKind::UnmanagedRemoteAccess, default),
                    dedup_key: format!("unmanaged_remote_access|{host}|{app}"),
                    summary,
                    summary_ja,
                    evidence,
                    first: ev.first,
                    last: ev.at,
                    count: 1,
                }
            },
        );
    }
}

/// A remote-access application, with what it is in English and Japanese.
fn remote_app(app: App, t: Transport, port: u16) -> Option<(&'static str, &'static str)> {
    const VPN: (&str, &str) = ("VPN", "VPN");
    const DESKTOP: (&str, &str) =
        ("remote desktop or remote support", "リモートデスクトップ・遠隔サポート");
    match app {
        App::Ike
        | App::Esp
        | App::OpenVpn
        | App::WireGuard
        | App::AnyConnect
        | App::FortiSslVpn => Some(VPN),
        // DTLS is also WebRTC and CoAP; only on the VPN products' ports.
        App::Dtls if t == Transport::Udp && matches!(port, 443 | 4433 | 10443) => Some(VPN),
        App::Rdp | App::Vnc | App::TeamViewer | App::AnyDesk => Some(DESKTOP),
        _ => None,
    }
}

/// The remote-access service usually on `port` (not 443: HTTPS).
fn remote_port_hint(t: Transport, port: u16) -> Option<(App, (&'static str, &'static str))> {
    let app = match (t, port) {
        (Transport::Tcp | Transport::Udp, 3389) => App::Rdp,
        (Transport::Tcp, 5900..=5903) => App::Vnc,
        (Transport::Tcp | Transport::Udp, 5938) => App::TeamViewer,
        (Transport::Tcp | Transport::Udp, 7070) => App::AnyDesk,
        (Transport::Udp, 500 | 4500) => App::Ike,
        (Transport::Tcp | Transport::Udp, 1194) => App::OpenVpn,
        (Transport::Udp, 51820) => App::WireGuard,
        (Transport::Tcp, 10443) => App::FortiSslVpn,
        _ => return None,
    };
    remote_app(app, t, port).map(|k| (app, k))
}

fn indicator_draft(
    policy: &Policy,
    ev: &FlowEvent<'_>,
    (host, hz, names): (IpAddr, ZoneRef, &[String]),
    (peer, pz): (IpAddr, ZoneRef),
    indicator: &str,
    source: &crate::IndicatorSource,
    (out, inn): (u64, u64),
) -> AlertDraft {
    let critical = policy.zone(hz).critical;
    let default = if critical { AlertSeverity::Critical } else { AlertSeverity::High };
    let label = text::label(host, names);
    let zn = text::zone_name(policy, hz);
    let what = if indicator == peer.to_string() {
        indicator.to_owned()
    } else {
        format!("{indicator} ({peer})")
    };
    let mut evidence = Evidence::default();
    evidence.assets.push(text::asset(policy, host, names, hz));
    let peer_names = if peer == ev.dst { ev.dst_hints.names } else { ev.src_hints.names };
    evidence.assets.push(text::asset(policy, peer, peer_names, pz));
    evidence.push_flow(text::flow(ev, out, inn));
    evidence.detail("indicator", indicator).detail("source", source);
    if let Some(id) = &source.stix_id {
        evidence.detail("stix_id", id);
    }
    if let Some(n) = &source.name {
        evidence.detail("indicator_name", n);
    }
    AlertDraft {
        kind: AlertKind::IndicatorMatch,
        severity: policy.detections().severity(AlertKind::IndicatorMatch, default),
        dedup_key: format!("indicator_match|{host}|{}", indicator.to_ascii_lowercase()),
        summary: format!(
            "{label} (zone \"{zn}\") communicated with {what}, which is on an indicator list ({source})."
        ),
        summary_ja: format!(
            "ゾーン「{zn}」の {label} が、脅威情報リストに載っている {what} と通信しました（出典：{source}）。"
        ),
        evidence,
        first: ev.first,
        last: ev.at,
        count: 1,
    }
}
