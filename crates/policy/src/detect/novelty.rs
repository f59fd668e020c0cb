//! First sightings: new devices, new talkers, new protocols.

use std::hash::BuildHasher;
use std::net::IpAddr;

use sekimori_proto::App;
use sekimori_types::{AlertDraft, AlertKind, AlertSeverity, Evidence};
use time::OffsetDateTime;

use super::bounded::{Bounded, Hasher};
use super::perflow::{FlowState, done, inside};
use super::{FlowEvent, Key, Limits, Pending, rebuild, text};
use crate::{NewActivityConfig, Policy, ZoneRef};

/// Most new peers or protocols listed per host in its alert.
const RECENT_ITEMS: usize = 20;

#[derive(Debug)]
pub(crate) struct Novelty {
    cfg: NewActivityConfig,
    learning_end: OffsetDateTime,
    learning: time::Duration,
    devices: Bounded<IpAddr, OffsetDateTime>,
    pairs: Bounded<u64, ()>,
    protos: Bounded<u64, ()>,
    recent: Bounded<(IpAddr, bool), Recent>,
}

#[derive(Debug, Default)]
struct Recent {
    items: Vec<String>,
    total: u64,
}

/// Who a host talked with, as new-talker counts it.
#[derive(Hash)]
enum Peer {
    Ip(IpAddr),
    /// Any internet host (for hosts outside critical zones).
    Internet,
}

impl Novelty {
    pub(crate) fn new(
        cfg: &NewActivityConfig,
        started: OffsetDateTime,
        limits: &Limits,
    ) -> Novelty {
        let learning = time::Duration::try_from(cfg.learning).unwrap_or(time::Duration::MAX);
        Novelty {
            cfg: *cfg,
            learning_end: started
                .checked_add(learning)
                .unwrap_or(OffsetDateTime::new_utc(time::Date::MAX, time::Time::MIDNIGHT)),
            learning,
            devices: Bounded::new(limits.devices),
            pairs: Bounded::new(limits.talker_pairs),
            protos: Bounded::new(limits.protocol_pairs),
            recent: Bounded::new(limits.recent),
        }
    }

    pub(crate) fn devices_len(&self) -> usize {
        self.devices.len()
    }
    pub(crate) fn pairs_len(&self) -> usize {
        self.pairs.len()
    }
    pub(crate) fn protos_len(&self) -> usize {
        self.protos.len()
    }
    pub(crate) fn recent_len(&self) -> usize {
        self.recent.len()
    }
    pub(crate) fn devices_evicted(&self) -> u64 {
        self.devices.evicted()
    }
    pub(crate) fn pairs_evicted(&self) -> u64 {
        self.pairs.evicted()
    }
    pub(crate) fn protos_evicted(&self) -> u64 {
        self.protos.evicted()
    }
    pub(crate) fn recent_evicted(&self) -> u64 {
        self.recent.evicted()
    }
    pub(crate) fn within_limits(&self) -> bool {
        self.devices.len() <= self.devices.cap()
            && self.pairs.len() <= self.pairs.cap()
            && self.protos.len() <= self.protos.cap()
            && self.recent.len() <= self.recent.cap()
            && self.recent.values().all(|r| r.items.len() <= RECENT_ITEMS)
    }

    pub(crate) fn on_flow(
        &mut self,
        policy: &Policy,
        pending: &mut Pending,
        hasher: &Hasher,
        st: &mut FlowState,
        ev: &FlowEvent<'_>,
        app: Option<App>,
    ) {
        let cfg = self.cfg;
        if !(cfg.device || cfg.talker || cfg.protocol) {
            return;
        }
        let sides = [
            (
                st.packets_out > 0,
                (ev.src, st.src_zone, ev.src_hints.names),
                (ev.dst, st.dst_zone, ev.dst_hints.names),
                [done::DEVICE_SRC, done::TALKER_SRC, done::PROTO_SRC],
            ),
            (
                st.packets_in > 0,
                (ev.dst, st.dst_zone, ev.dst_hints.names),
                (ev.src, st.src_zone, ev.src_hints.names),
                [done::DEVICE_DST, done::TALKER_DST, done::PROTO_DST],
            ),
        ];
        for (sent, host, peer, [dev_bit, talk_bit, proto_bit]) in sides {
            let all = dev_bit | talk_bit | proto_bit;
            if !sent || st.done & all == all {
                continue;
            }
            let (ip, zone, names) = host;
            if !policy.is_internal(ip) || !is_device_address(ip) {
                st.set(all);
                continue;
            }
            let first_seen = if st.is(dev_bit) {
                self.devices.get(&ip).copied().unwrap_or(ev.at)
            } else {
                st.set(dev_bit);
                let (first, new) = self.devices.get_or_insert(ip, || ev.at, |_| false);
                let first = *first;
                if new && cfg.device && ev.at >= self.learning_end {
                    new_device(policy, pending, ev, host, st);
                }
                first
            };
            // A device first seen after the learning period learns for as
            // long before its peers and protocols count as new.
            let grace_end = if first_seen > self.learning_end {
                first_seen.checked_add(self.learning).unwrap_or(first_seen)
            } else {
                self.learning_end
            };
            let learned = ev.at >= grace_end;
            if !st.is(talk_bit) {
                st.set(talk_bit);
                if cfg.talker {
                    let (pip, pzone, _) = peer;
                    let key = if inside(pzone) || policy.zone(zone).critical {
                        Peer::Ip(pip)
                    } else {
                        Peer::Internet
                    };
                    let is_internet = matches!(key, Peer::Internet);
                    if self.pairs.insert_new(hasher.hash_one((ip, key)), ()) && learned {
                        let label = if is_internet {
                            "internet".to_owned()
                        } else {
                            text::label(pip, peer.2)
                        };
                        let r = self.remember(ip, false, label);
                        new_talker(policy, pending, ev, st, (ip, zone, names), peer, r);
                    }
                }
            }
            if let Some(a) = app
                && !st.is(proto_bit)
            {
                st.set(proto_bit);
                if cfg.protocol
                    && self.protos.insert_new(hasher.hash_one((ip, a.as_str())), ())
                    && learned
                {
                    let r = self.remember(ip, true, a.as_str().to_owned());
                    new_protocol(policy, pending, ev, st, (ip, zone, names), a, r);
                }
            }
        }
    }

    fn remember(&mut self, ip: IpAddr, proto: bool, item: String) -> &Recent {
        let (r, _) = self.recent.get_or_insert((ip, proto), Recent::default, |_| false);
        r.total = r.total.saturating_add(1);
        if r.items.len() < RECENT_ITEMS && !r.items.contains(&item) {
            r.items.push(item);
        }
        r
    }
}

/// Not a device of its own: unspecified, broadcast, multicast, loopback.
fn is_device_address(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            !(v4.is_unspecified() || v4.is_broadcast() || v4.is_multicast() || v4.is_loopback())
        }
        IpAddr::V6(v6) => !(v6.is_unspecified() || v6.is_multicast() || v6.is_loopback()),
    }
}

fn severity(
    policy: &Policy,
    kind: AlertKind,
    zone: ZoneRef,
    low: AlertSeverity,
    high: AlertSeverity,
) -> AlertSeverity {
    let default = if policy.zone(zone).critical { high } else { low };
    policy.detections().severity(kind, default)
}

fn new_device(
    policy: &Policy,
    pending: &mut Pending,
    ev: &FlowEvent<'_>,
    (ip, zone, names): (IpAddr, ZoneRef, &[String]),
    st: &FlowState,
) {
    pending.emit(AlertKind::NewDevice, Key::NewDevice(ip), rebuild(), || {
        let label = text::label(ip, names);
        let zn = text::zone_name(policy, zone);
        let when = text::time(ev.at);
        let mut evidence = Evidence::default();
        evidence.assets.push(text::asset(policy, ip, names, zone));
        evidence.push_flow(text::flow(ev, st.bytes_out, st.bytes_in));
        evidence.detail("first_seen", &when);
        AlertDraft {
            kind: AlertKind::NewDevice,
            severity: severity(policy, AlertKind::NewDevice, zone, AlertSeverity::Medium, AlertSeverity::High),
            dedup_key: format!("new_device|{ip}"),
            summary: format!("New device {label} in zone \"{zn}\", first seen at {when}."),
            summary_ja: format!("これまで見たことのない機器 {label}（ゾーン「{zn}」）を {when} に初めて検出しました。"),
            evidence,
            first: ev.at,
            last: ev.at,
            count: 1,
        }
    });
}

fn new_talker(
    policy: &Policy,
    pending: &mut Pending,
    ev: &FlowEvent<'_>,
    st: &FlowState,
    (ip, zone, names): (IpAddr, ZoneRef, &[String]),
    (pip, pzone, pnames): (IpAddr, ZoneRef, &[String]),
    r: &Recent,
) {
    pending.emit(AlertKind::NewTalker, Key::NewTalker(ip), rebuild(), || {
        let label = text::label(ip, names);
        let zn = text::zone_name(policy, zone);
        let peers = text::list(&r.items, r.total, RECENT_ITEMS);
        let mut evidence = Evidence::default();
        evidence.assets.push(text::asset(policy, ip, names, zone));
        evidence.assets.push(text::asset(policy, pip, pnames, pzone));
        evidence.push_flow(text::flow(ev, st.bytes_out, st.bytes_in));
        evidence.detail("peers", &peers).detail("new_peer_count", r.total);
        AlertDraft {
            kind: AlertKind::NewTalker,
            severity: severity(policy, AlertKind::NewTalker, zone, AlertSeverity::Low, AlertSeverity::Medium),
            dedup_key: format!("new_talker|{ip}"),
            summary: format!(
                "{label} (zone \"{zn}\") talked with {} peer(s) it had never talked with before: {peers}.",
                r.total
            ),
            summary_ja: format!(
                "ゾーン「{zn}」の {label} が、これまで通信したことのない相手 {} 件と通信しました：{peers}。",
                r.total
            ),
            evidence,
            first: ev.first,
            last: ev.at,
            count: 1,
        }
    });
}

fn new_protocol(
    policy: &Policy,
    pending: &mut Pending,
    ev: &FlowEvent<'_>,
    st: &FlowState,
    (ip, zone, names): (IpAddr, ZoneRef, &[String]),
    app: App,
    r: &Recent,
) {
    pending.emit(AlertKind::NewProtocol, Key::NewProtocol(ip), rebuild(), || {
        let label = text::label(ip, names);
        let zn = text::zone_name(policy, zone);
        let apps = text::list(&r.items, r.total, RECENT_ITEMS);
        let mut evidence = Evidence::default();
        evidence.assets.push(text::asset(policy, ip, names, zone));
        evidence.push_flow(text::flow(ev, st.bytes_out, st.bytes_in));
        evidence.detail("protocols", &apps).detail("protocol", app);
        AlertDraft {
            kind: AlertKind::NewProtocol,
            severity: severity(policy, AlertKind::NewProtocol, zone, AlertSeverity::Low, AlertSeverity::Medium),
            dedup_key: format!("new_protocol|{ip}"),
            summary: format!(
                "{label} (zone \"{zn}\") used protocol(s) it had never used before: {apps}."
            ),
            summary_ja: format!(
                "ゾーン「{zn}」の {label} が、これまで使っていなかったプロトコルを使いました：{apps}。"
            ),
            evidence,
            first: ev.first,
            last: ev.at,
            count: 1,
        }
    });
}
