//! Silence: a watched asset, address or zone member stops sending its
//! usual traffic.

use std::collections::HashMap;
use std::net::IpAddr;

use sekimori_proto::App;
use sekimori_types::{AlertDraft, AlertKind, AlertSeverity, Evidence, EvidenceAsset};
use time::OffsetDateTime;

use super::bounded::{Bounded, Hasher};
use super::perflow::FlowState;
use super::{FlowEvent, Key, Pending, rebuild, text};
use crate::{Policy, SilenceTarget, ZoneRef, normalize_name};

#[derive(Debug)]
pub(crate) struct Silence {
    watches: Vec<Watch>,
    /// One member per asset/address watch (index = watch).
    single: Vec<Member>,
    /// Members of zone watches, by (watch, address).
    members: Bounded<(u16, IpAddr), Member>,
    by_addr: HashMap<IpAddr, Vec<u16>, Hasher>,
    by_name: HashMap<String, Vec<u16>, Hasher>,
    by_zone: HashMap<ZoneRef, Vec<u16>, Hasher>,
}

#[derive(Debug)]
struct Watch {
    name: Option<String>,
    window: time::Duration,
    protocols: Vec<App>,
}

#[derive(Debug, Clone, Default)]
struct Member {
    ip: Option<IpAddr>,
    name: Option<String>,
    zone: Option<ZoneRef>,
    last: Option<OffsetDateTime>,
    /// When it was reported silent (cleared when traffic resumes).
    alerted: Option<OffsetDateTime>,
    /// When traffic last resumed after a silence.
    resumed: Option<OffsetDateTime>,
    silences: u64,
}

impl Silence {
    pub(crate) fn new(policy: &Policy, cap: usize) -> Silence {
        let mut s = Silence {
            watches: Vec::new(),
            single: Vec::new(),
            members: Bounded::new(cap),
            by_addr: HashMap::default(),
            by_name: HashMap::default(),
            by_zone: HashMap::default(),
        };
        for (i, w) in policy.detections().silence.iter().enumerate().take(usize::from(u16::MAX)) {
            let i = u16::try_from(i).unwrap_or(u16::MAX);
            let mut m = Member::default();
            match &w.target {
                SilenceTarget::Asset(n) => {
                    s.by_name.entry(normalize_name(n).into_owned()).or_default().push(i);
                    m.name = Some(n.clone());
                }
                SilenceTarget::Address(a) => {
                    let a = crate::net::canonical(*a);
                    s.by_addr.entry(a).or_default().push(i);
                    m.ip = Some(a);
                    m.zone = Some(policy.zone_of(a, &Default::default()));
                }
                SilenceTarget::Zone(z) => {
                    s.by_zone.entry(*z).or_default().push(i);
                    m.zone = Some(*z);
                }
            }
            s.watches.push(Watch {
                name: w.name.clone(),
                window: time::Duration::try_from(w.window).unwrap_or(time::Duration::MAX),
                protocols: w.protocols.clone(),
            });
            s.single.push(m);
        }
        s
    }

    pub(crate) fn members_len(&self) -> usize {
        self.members.len()
    }
    pub(crate) fn members_evicted(&self) -> u64 {
        self.members.evicted()
    }
    pub(crate) fn within_limits(&self) -> bool {
        self.members.len() <= self.members.cap()
    }

    pub(crate) fn on_flow(&mut self, st: &FlowState, ev: &FlowEvent<'_>, app: Option<App>) {
        if self.watches.is_empty() {
            return;
        }
        let sides = [
            (ev.packets_out > 0, ev.src, st.src_zone, ev.src_hints.names),
            (ev.packets_in > 0, ev.dst, st.dst_zone, ev.dst_hints.names),
        ];
        for (sent, ip, zone, names) in sides {
            if !sent {
                continue;
            }
            let ip = crate::net::canonical(ip);
            if !self.by_name.is_empty() {
                for n in names {
                    let Some(ws) = self.by_name.get(normalize_name(n).as_ref()) else { continue };
                    for w in ws.clone() {
                        self.learn_address(w, ip);
                    }
                }
            }
            if let Some(ws) = self.by_addr.get(&ip) {
                for &w in ws {
                    let (Some(watch), Some(m)) =
                        (self.watches.get(usize::from(w)), self.single.get_mut(usize::from(w)))
                    else {
                        continue;
                    };
                    if counts(watch, app) {
                        m.zone.get_or_insert(zone);
                        if m.name.is_none() {
                            m.name = text::first_name(names).map(str::to_owned);
                        }
                        touch(m, ev.at);
                    }
                }
            }
            if let Some(ws) = self.by_zone.get(&zone) {
                for &w in ws {
                    let Some(watch) = self.watches.get(usize::from(w)) else { continue };
                    if !counts(watch, app) {
                        continue;
                    }
                    let (m, _) = self.members.get_or_insert(
                        (w, ip),
                        || Member { ip: Some(ip), zone: Some(zone), ..Member::default() },
                        // Members already reported silent go first.
                        |m| m.alerted.is_some(),
                    );
                    if m.name.is_none() {
                        m.name = text::first_name(names).map(str::to_owned);
                    }
                    touch(m, ev.at);
                }
            }
        }
    }

    /// An asset watch's asset was seen at `ip`: follow that address.
    fn learn_address(&mut self, w: u16, ip: IpAddr) {
        let Some(m) = self.single.get_mut(usize::from(w)) else { return };
        if m.ip == Some(ip) {
            return;
        }
        if let Some(old) = m.ip.replace(ip)
            && let Some(v) = self.by_addr.get_mut(&old)
        {
            v.retain(|x| *x != w);
            if v.is_empty() {
                self.by_addr.remove(&old);
            }
        }
        let v = self.by_addr.entry(ip).or_default();
        if !v.contains(&w) {
            v.push(w);
        }
    }

    pub(crate) fn tick(&mut self, policy: &Policy, now: OffsetDateTime, pending: &mut Pending) {
        for (i, m) in self.single.iter_mut().enumerate() {
            let w = u16::try_from(i).unwrap_or(u16::MAX);
            if let Some(watch) = self.watches.get(i) {
                check(policy, pending, now, w, watch, m);
            }
        }
        self.tick_members(policy, now, pending);
    }

    fn tick_members(&mut self, policy: &Policy, now: OffsetDateTime, pending: &mut Pending) {
        let watches = &self.watches;
        for ((w, _), m) in self.members.iter_mut() {
            if let Some(watch) = watches.get(usize::from(*w)) {
                check(policy, pending, now, *w, watch, m);
            }
        }
    }
}

fn counts(w: &Watch, app: Option<App>) -> bool {
    w.protocols.is_empty() || app.is_some_and(|a| w.protocols.contains(&a))
}

fn touch(m: &mut Member, at: OffsetDateTime) {
    if m.alerted.take().is_some() {
        m.resumed = Some(at);
    }
    m.last = Some(m.last.map_or(at, |l| l.max(at)));
}

fn check(
    policy: &Policy,
    pending: &mut Pending,
    now: OffsetDateTime,
    w: u16,
    watch: &Watch,
    m: &mut Member,
) {
    let Some(last) = m.last else { return };
    if m.alerted.is_some() || now - last <= watch.window {
        return;
    }
    m.alerted = Some(now);
    m.silences = m.silences.saturating_add(1);
    let m = &*m;
    pending.emit(AlertKind::Silence, Key::Silence { watch: w, host: m.ip }, rebuild(), || {
        draft(policy, now, w, watch, m, last)
    });
}

fn draft(
    policy: &Policy,
    now: OffsetDateTime,
    w: u16,
    watch: &Watch,
    m: &Member,
    last: OffsetDateTime,
) -> AlertDraft {
    let zone = m.zone.map(|z| policy.zone(z));
    let critical = zone.is_some_and(|z| z.critical);
    let default = if critical { AlertSeverity::Critical } else { AlertSeverity::High };
    let who = match (m.name.as_deref(), m.ip) {
        (Some(n), Some(ip)) => format!("{n} ({ip})"),
        (Some(n), None) => n.to_owned(),
        (None, Some(ip)) => ip.to_string(),
        (None, None) => "?".to_owned(),
    };
    let label = match &watch.name {
        Some(n) => format!("{who} [{n}]"),
        None => who,
    };
    let zn = zone.map_or("internal", |z| z.name.as_str());
    let window = std::time::Duration::try_from(watch.window).unwrap_or_default();
    let quiet = std::time::Duration::try_from(now - last).unwrap_or_default();
    let protos: Vec<&str> = watch.protocols.iter().map(|a| a.as_str()).collect();
    let (what_en, what_ja) = if protos.is_empty() {
        ("no traffic".to_owned(), "通信".to_owned())
    } else {
        (format!("no {} traffic", protos.join("/")), format!("{} の通信", protos.join("/")))
    };
    let mut evidence = Evidence::default();
    if let Some(ip) = m.ip {
        evidence.assets.push(EvidenceAsset { ip, name: m.name.clone(), zone: Some(zn.to_owned()) });
    }
    evidence
        .detail("last_seen", text::time(last))
        .detail("window_seconds", window.as_secs())
        .detail("silent_seconds", quiet.as_secs())
        .detail("watch", usize::from(w) + 1);
    if !protos.is_empty() {
        evidence.detail("protocols", protos.join(", "));
    }
    if let Some(r) = m.resumed {
        evidence.detail("previous_silence_ended", text::time(r));
    }
    if m.silences > 1 {
        evidence.detail("silences", m.silences);
    }
    let key = match m.ip {
        Some(ip) => format!("silence|{}|{ip}", usize::from(w) + 1),
        None => format!("silence|{}", usize::from(w) + 1),
    };
    AlertDraft {
        kind: AlertKind::Silence,
        severity: policy.detections().severity(AlertKind::Silence, default),
        dedup_key: key,
        summary: format!(
            "{label} (zone \"{zn}\") has sent {what_en} for {} (last seen {}, alert after {}). Check that it is working.",
            text::dur_en(quiet),
            text::time(last),
            text::dur_en(window)
        ),
        summary_ja: format!(
            "ゾーン「{zn}」の {label} から {} 以上 {what_ja}がありません（最終確認 {}、{}経過）。正常に動作しているか確認してください。",
            text::dur_ja(window),
            text::time(last),
            text::dur_ja(quiet)
        ),
        evidence,
        first: last,
        last: now,
        count: 1,
    }
}
