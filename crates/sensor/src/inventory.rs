//! The inventory: one asset per device, built from flow records, ARP, and
//! link-layer announcements (LLDP, CDP).
//!
//! # Which addresses make one asset
//!
//! Observations are collected per IP address and per MAC address while
//! packets are read; assets are formed from them at the end
//! ([`Inventory::assets`]), when each MAC's whole behaviour is known.
//!
//! An IP address is bound to a MAC address — and the two become one asset
//! — when:
//! 1. ARP says so (an ARP sender's MAC and IP), or DHCP does (a
//!    `dhcp.assigned_ip` fact about a MAC: the address a DHCPACK gave it;
//!    an address the client only asked for binds nothing); or
//! 2. the IP was the source of frames from that MAC, the MAC does not
//!    behave like a router, and either the IP is local-scope (RFC 1918,
//!    CGNAT 100.64/10, link-local, loopback, IPv6 ULA and link-local) or it
//!    is the only IP the MAC was ever the source for. A MAC behaves like a
//!    router when it was the source for more than one IPv4 address, or for
//!    more than four IPv6 addresses other than link-local ones (a host's
//!    SLAAC and temporary addresses fit in four), or for more addresses
//!    than are tracked: the frames of every host beyond a router carry the
//!    router's MAC, so such a MAC names none of them.
//!
//! An IP bound to several MACs goes to the one ARP or DHCP named (else to
//! the lowest MAC). A MAC with bound IPs, or with facts or link-layer
//! announcements of its own, is an asset; an IP not bound to any MAC is an
//! asset of its own (keyed by IP). Names are not used to merge assets: a
//! name is a claim made by the device (a DHCP host name, an AE title) and
//! two devices may claim the same one. Unspecified, multicast and broadcast
//! addresses are never assets: what a DHCP client says from 0.0.0.0 goes to
//! its MAC.
//!
//! # Vendor, product, version, role
//!
//! `vendor`, `product` and `version` are the first such facts seen about
//! the asset (banners, certificates, DICOM implementation names, LLDP/CDP,
//! IKE vendor IDs — whatever the protocol modules report); `vendor` falls
//! back to the MAC's IEEE registrant (`mac_vendor`). The role is a guess
//! from the protocols the asset serves and uses, with the basis stated;
//! the first rule that matches, in this order:
//!
//! | role | basis |
//! |---|---|
//! | `pacs-or-modality` | DICOM SCP: accepts DICOM associations |
//! | `modality-or-workstation` | DICOM SCU: opens DICOM associations |
//! | `hl7-interface` | receives or sends HL7 v2 over MLLP |
//! | `vpn-gateway` | answers IKE, OpenVPN, WireGuard, AnyConnect or FortiGate SSL-VPN |
//! | `building-automation` | speaks BACnet |
//! | `dhcp-server`, `dns-server`, `syslog-collector`, `flow-collector` | serves that protocol |
//! | `flow-exporter` | sends NetFlow/IPFIX |
//! | `network-device` | announces itself by LLDP or CDP, or answers SNMP |
//! | `managed-host` | SSH, RDP or VNC server |
//! | `file-server` | SMB server |
//! | `remote-access-client` | TeamViewer, AnyDesk or VPN client |
//! | `web-server` | HTTP or TLS server |

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

use sekimori_proto::{App, Fact, FactKey, Subject};

use crate::flow::{Timestamp, is_unicast_mac};
use crate::oui;
use crate::record::{FlowRecord, KeyValue, Mac};

/// Most source IPs remembered per MAC (more: it is a router).
const MAX_IPS_PER_MAC: usize = 16;
/// Most facts kept per address.
const MAX_FACTS: usize = 128;
/// Most names printed per asset.
const MAX_NAMES: usize = 32;

/// A set of [`App`]s, one bit per entry of [`App::ALL`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Apps(u64);

impl Apps {
    fn add(&mut self, app: App) {
        if let Some(i) = App::ALL.iter().position(|a| *a == app) {
            self.0 |= 1 << (i % 64);
        }
    }
    fn has(self, app: App) -> bool {
        let mut one = Apps::default();
        one.add(app);
        self.0 & one.0 != 0
    }
    fn list(self) -> Vec<App> {
        let mut v: Vec<App> = App::ALL
            .iter()
            .enumerate()
            .filter(|(i, _)| self.0 & (1 << (i % 64)) != 0)
            .map(|(_, a)| *a)
            .collect();
        v.sort_by_key(|a| a.as_str());
        v
    }
}

#[derive(Debug, Default)]
struct Seen {
    first: Option<Timestamp>,
    last: Option<Timestamp>,
}

impl Seen {
    fn at(&mut self, first: Timestamp, last: Timestamp) {
        self.first = Some(self.first.map_or(first, |f| f.min(first)));
        self.last = Some(self.last.map_or(last, |l| l.max(last)));
    }
    fn merge(&mut self, o: &Seen) {
        if let (Some(f), Some(l)) = (o.first, o.last) {
            self.at(f, l);
        }
    }
}

#[derive(Debug, Default)]
struct Facts(Vec<(FactKey, String)>);

impl Facts {
    fn add(&mut self, key: FactKey, value: &str) {
        if self.0.len() < MAX_FACTS && !self.0.iter().any(|(k, v)| *k == key && v == value) {
            self.0.push((key, value.to_owned()));
        }
    }
}

/// What was seen of one IP address.
#[derive(Debug, Default)]
struct IpObs {
    /// A flow endpoint or ARP sender (not only named in a payload).
    endpoint: bool,
    seen: Seen,
    as_client: Apps,
    as_server: Apps,
    facts: Facts,
}

/// What was seen of one MAC address.
#[derive(Debug, Default)]
struct MacObs {
    seen: Seen,
    /// IPs this MAC was the source of frames for.
    src_ips: Vec<IpAddr>,
    /// More than [`MAX_IPS_PER_MAC`] of them.
    overflow: bool,
    /// IPs ARP or DHCP bound to this MAC.
    bound: Vec<IpAddr>,
    facts: Facts,
    /// Link-layer protocols it announced itself with.
    frames: Apps,
    /// Protocols used from an unspecified IP (a DHCP client).
    as_client: Apps,
    as_server: Apps,
}

/// One device as the inventory lists it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Asset {
    /// Stable identifier within an analysis: `mac:00:1b:21:0a:bc:de` when
    /// the asset has a MAC, else `ip:10.20.1.10`.
    pub id: String,
    /// The asset's main IP address (its lowest IPv4, else lowest IPv6).
    pub ip: Option<IpAddr>,
    /// All its IP addresses.
    pub ips: Vec<IpAddr>,
    pub mac: Option<Mac>,
    /// Names it is known by (DHCP/NetBIOS/DNS names, AE titles, LLDP
    /// system names), sorted.
    pub names: Vec<String>,
    pub vendor: Option<String>,
    pub product: Option<String>,
    pub version: Option<String>,
    /// The MAC's IEEE registrant.
    pub mac_vendor: Option<&'static str>,
    /// Every protocol it was seen with (as client, as server, or
    /// announcing itself on the link), sorted by name.
    pub protocols: Vec<App>,
    pub protocols_as_client: Vec<App>,
    pub protocols_as_server: Vec<App>,
    pub first_seen: Option<Timestamp>,
    pub last_seen: Option<Timestamp>,
    /// A guess at what the device is (rules in the module doc).
    pub role: Option<&'static str>,
    /// What the guess rests on.
    pub role_basis: Option<&'static str>,
    /// Has a local-scope address (private, CGNAT, link-local, ULA), or
    /// no address but a MAC (seen on the link).
    pub local: bool,
    /// Every fact about it, sorted by key then value.
    pub facts: Vec<KeyValue>,
}

/// Collected observations; [`Inventory::assets`] turns them into assets.
#[derive(Debug, Default)]
pub struct Inventory {
    ips: HashMap<IpAddr, IpObs>,
    macs: HashMap<[u8; 6], MacObs>,
}

/// An address that can name one host.
pub fn is_host_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => !(v4.is_unspecified() || v4.is_multicast() || v4.is_broadcast()),
        IpAddr::V6(v6) => !(v6.is_unspecified() || v6.is_multicast()),
    }
}

/// Local scope: RFC 1918, CGNAT (100.64/10), link-local, loopback, IPv6
/// unique-local and link-local.
pub fn is_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_private()
                || v4.is_link_local()
                || v4.is_loopback()
                || (a == 100 && b & 0xc0 == 64)
        }
        IpAddr::V6(v6) => v6.is_loopback() || v6.is_unicast_link_local() || v6.is_unique_local(),
    }
}

fn is_v6_global(ip: &IpAddr) -> bool {
    matches!(ip, IpAddr::V6(v6) if !v6.is_unicast_link_local())
}

impl Inventory {
    /// An empty inventory.
    pub fn new() -> Inventory {
        Inventory::default()
    }

    fn mac_obs(&mut self, mac: [u8; 6]) -> Option<&mut MacObs> {
        is_unicast_mac(mac).then(|| self.macs.entry(mac).or_default())
    }

    /// One endpoint of a flow: its address, its source MAC, and the
    /// application it used (as client) or served.
    fn endpoint(&mut self, ip: IpAddr, mac: Option<Mac>, rec: &FlowRecord, client: bool) {
        let mac = mac.map(|m| m.0).filter(|m| is_unicast_mac(*m));
        if is_host_ip(ip) {
            let o = self.ips.entry(ip).or_default();
            o.endpoint = true;
            o.seen.at(rec.first, rec.last);
            if let Some(app) = rec.app {
                if client { o.as_client.add(app) } else { o.as_server.add(app) }
            }
            if let Some(m) = mac.and_then(|m| self.mac_obs(m)) {
                m.seen.at(rec.first, rec.last);
                if !m.src_ips.contains(&ip) {
                    if m.src_ips.len() < MAX_IPS_PER_MAC {
                        m.src_ips.push(ip);
                    } else {
                        m.overflow = true;
                    }
                }
            }
        } else if ip.is_unspecified()
            && let Some(m) = mac.and_then(|m| self.mac_obs(m))
        {
            m.seen.at(rec.first, rec.last);
            if let Some(app) = rec.app {
                if client { m.as_client.add(app) } else { m.as_server.add(app) }
            }
        }
    }

    /// Files a fact under the host it describes. `client`/`server` are the
    /// flow's endpoints (address and MAC) for relative subjects.
    fn fact(&mut self, f: &Fact, client: (IpAddr, Option<Mac>), server: (IpAddr, Option<Mac>)) {
        let target = match f.subject {
            Subject::Client => Some(client),
            Subject::Server => Some(server),
            Subject::Ip(ip) => Some((ip, None)),
            Subject::Mac(m) => {
                if let Some(o) = self.mac_obs(m) {
                    o.facts.add(f.key, &f.value);
                    if f.key == FactKey::DhcpAssignedIp
                        && let Ok(ip) = f.value.parse::<IpAddr>()
                        && is_host_ip(ip)
                        && !o.bound.contains(&ip)
                        && o.bound.len() < MAX_IPS_PER_MAC
                    {
                        o.bound.push(ip);
                    }
                }
                None
            }
        };
        let Some((ip, mac)) = target else { return };
        if is_host_ip(ip) {
            self.ips.entry(ip).or_default().facts.add(f.key, &f.value);
        } else if let Some(o) = mac.and_then(|m| self.mac_obs(m.0)) {
            o.facts.add(f.key, &f.value);
        }
    }

    /// Takes in a flow record: both endpoints, their MACs, the app and
    /// the facts.
    pub fn flow(&mut self, rec: &FlowRecord) {
        self.endpoint(rec.src, rec.src_mac, rec, true);
        // A directed broadcast (10.0.0.255) looks like a host address; the
        // frames to it were sent to a group MAC, and nothing answers from it.
        if !(rec.to_group_mac && rec.packets_in == 0) {
            self.endpoint(rec.dst, rec.dst_mac, rec, false);
        }
        for f in &rec.facts {
            self.fact(f, (rec.src, rec.src_mac), (rec.dst, rec.dst_mac));
        }
    }

    /// An ARP packet's sender: binds its IP to its MAC.
    pub fn arp(&mut self, mac: [u8; 6], ip: IpAddr, ts: Timestamp) {
        if !is_host_ip(ip) {
            return;
        }
        let Some(o) = self.mac_obs(mac) else { return };
        o.seen.at(ts, ts);
        if !o.bound.contains(&ip) && o.bound.len() < MAX_IPS_PER_MAC {
            o.bound.push(ip);
        }
        let ipo = self.ips.entry(ip).or_default();
        ipo.endpoint = true;
        ipo.seen.at(ts, ts);
    }

    /// A link-layer announcement (LLDP, CDP) from `mac` and its facts.
    pub fn frame(&mut self, mac: [u8; 6], app: App, facts: &[Fact], ts: Timestamp) {
        let Some(o) = self.mac_obs(mac) else { return };
        o.seen.at(ts, ts);
        o.frames.add(app);
        let me = (std::net::Ipv4Addr::UNSPECIFIED.into(), Some(Mac(mac)));
        for f in facts {
            self.fact(f, me, me);
        }
    }

    /// Which MAC each bound IP belongs to (rules in the module doc).
    fn bindings(&self) -> BTreeMap<IpAddr, [u8; 6]> {
        let mut owner: BTreeMap<IpAddr, ([u8; 6], u8)> = BTreeMap::new();
        let mut macs: Vec<(&[u8; 6], &MacObs)> = self.macs.iter().collect();
        macs.sort_by_key(|(m, _)| **m);
        for (mac, o) in macs {
            let v4 = o.src_ips.iter().filter(|ip| ip.is_ipv4()).count();
            let v6 = o.src_ips.iter().filter(|ip| is_v6_global(ip)).count();
            let router = o.overflow || v4 > 1 || v6 > 4;
            let only = o.src_ips.len() == 1;
            let from_traffic =
                o.src_ips.iter().filter(|ip| !router && (is_local(**ip) || only)).map(|ip| (ip, 1));
            for (ip, prio) in from_traffic.chain(o.bound.iter().map(|ip| (ip, 2))) {
                match owner.get(ip) {
                    Some((_, p)) if *p >= prio => {}
                    _ => {
                        owner.insert(*ip, (*mac, prio));
                    }
                }
            }
        }
        owner.into_iter().map(|(ip, (mac, _))| (ip, mac)).collect()
    }

    /// The assets, sorted by IP (assets without one last, by MAC).
    pub fn assets(&self) -> Vec<Asset> {
        let owner = self.bindings();
        let mut ips_of: BTreeMap<[u8; 6], Vec<IpAddr>> = BTreeMap::new();
        for (ip, mac) in &owner {
            ips_of.entry(*mac).or_default().push(*ip);
        }
        let mut out = Vec::new();
        let mut macs: Vec<(&[u8; 6], &MacObs)> = self.macs.iter().collect();
        macs.sort_by_key(|(m, _)| **m);
        for (mac, o) in macs {
            let ips = ips_of.remove(mac).unwrap_or_default();
            if ips.is_empty() && o.facts.0.is_empty() && o.frames == Apps::default() {
                continue; // a router's MAC, or a host known by IP only
            }
            let obs: Vec<&IpObs> = ips.iter().filter_map(|ip| self.ips.get(ip)).collect();
            out.push(build(Some(*mac), ips, Some(o), &obs));
        }
        let mut lone: Vec<(&IpAddr, &IpObs)> = self
            .ips
            .iter()
            .filter(|(ip, o)| o.endpoint && is_host_ip(**ip) && !owner.contains_key(*ip))
            .collect();
        lone.sort_by_key(|(ip, _)| **ip);
        for (ip, o) in lone {
            out.push(build(None, vec![*ip], None, &[o]));
        }
        out.sort_by_key(|a| (a.ip.is_none(), a.ip, a.mac));
        out
    }
}

fn build(mac: Option<[u8; 6]>, mut ips: Vec<IpAddr>, m: Option<&MacObs>, obs: &[&IpObs]) -> Asset {
    ips.sort_by_key(|ip| (ip.is_ipv6(), *ip));
    let mut seen = Seen::default();
    let (mut as_client, mut as_server, mut frames) =
        (Apps::default(), Apps::default(), Apps::default());
    let mut facts: Vec<&(FactKey, String)> = Vec::new();
    if let Some(m) = m {
        seen.merge(&m.seen);
        as_client = m.as_client;
        as_server = m.as_server;
        frames = m.frames;
        facts.extend(m.facts.0.iter());
    }
    for o in obs {
        seen.merge(&o.seen);
        as_client.0 |= o.as_client.0;
        as_server.0 |= o.as_server.0;
        facts.extend(o.facts.0.iter());
    }
    let first_of = |key: FactKey| facts.iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone());
    let names: BTreeSet<String> =
        facts.iter().filter(|(k, _)| k.is_name()).map(|(_, v)| v.clone()).collect();
    let mac_vendor = mac.and_then(oui::vendor);
    let (role, role_basis) = role(as_client, as_server, frames).unzip();
    let mut kv: Vec<KeyValue> =
        facts.iter().map(|(k, v)| KeyValue { key: *k, value: v.clone() }).collect();
    kv.sort();
    kv.dedup();
    let all = Apps(as_client.0 | as_server.0 | frames.0);
    Asset {
        id: match (mac, ips.first()) {
            (Some(m), _) => format!("mac:{}", Mac(m)),
            (None, Some(ip)) => format!("ip:{ip}"),
            (None, None) => String::new(),
        },
        ip: ips.first().copied(),
        local: ips.iter().any(|ip| is_local(*ip)) || (ips.is_empty() && mac.is_some()),
        ips,
        mac: mac.map(Mac),
        names: names.into_iter().take(MAX_NAMES).collect(),
        vendor: first_of(FactKey::Vendor).or_else(|| mac_vendor.map(str::to_owned)),
        product: first_of(FactKey::Product),
        version: first_of(FactKey::Version),
        mac_vendor,
        protocols: all.list(),
        protocols_as_client: as_client.list(),
        protocols_as_server: as_server.list(),
        first_seen: seen.first,
        last_seen: seen.last,
        role,
        role_basis,
        facts: kv,
    }
}

/// The role guess: the first rule that matches (table in the module doc).
fn role(client: Apps, server: Apps, frames: Apps) -> Option<(&'static str, &'static str)> {
    let (c, s, f) = (client, server, frames);
    let rules: &[(bool, &str, &str)] = &[
        (s.has(App::Dicom), "pacs-or-modality", "DICOM SCP: accepts DICOM associations"),
        (c.has(App::Dicom), "modality-or-workstation", "DICOM SCU: opens DICOM associations"),
        (s.has(App::Hl7), "hl7-interface", "receives HL7 v2 messages over MLLP"),
        (c.has(App::Hl7), "hl7-interface", "sends HL7 v2 messages over MLLP"),
        (s.has(App::Ike), "vpn-gateway", "IKE responder"),
        (s.has(App::OpenVpn), "vpn-gateway", "OpenVPN server"),
        (s.has(App::WireGuard), "vpn-gateway", "WireGuard responder"),
        (s.has(App::AnyConnect), "vpn-gateway", "Cisco AnyConnect server"),
        (s.has(App::FortiSslVpn), "vpn-gateway", "FortiGate SSL-VPN server"),
        (s.has(App::Bacnet) || c.has(App::Bacnet), "building-automation", "speaks BACnet/IP"),
        (s.has(App::Dhcp), "dhcp-server", "answers DHCP"),
        (s.has(App::Dns), "dns-server", "answers DNS"),
        (s.has(App::Syslog), "syslog-collector", "receives syslog"),
        (
            s.has(App::NetflowV5) || s.has(App::NetflowV9) || s.has(App::Ipfix),
            "flow-collector",
            "receives NetFlow/IPFIX",
        ),
        (
            c.has(App::NetflowV5) || c.has(App::NetflowV9) || c.has(App::Ipfix),
            "flow-exporter",
            "sends NetFlow/IPFIX",
        ),
        (f.has(App::Lldp), "network-device", "announces itself by LLDP"),
        (f.has(App::Cdp), "network-device", "announces itself by CDP"),
        (s.has(App::Snmp), "network-device", "answers SNMP"),
        (s.has(App::Ssh), "managed-host", "SSH server"),
        (s.has(App::Rdp), "managed-host", "RDP server"),
        (s.has(App::Vnc), "managed-host", "VNC server"),
        (s.has(App::Smb), "file-server", "SMB server"),
        (c.has(App::TeamViewer), "remote-access-client", "TeamViewer client"),
        (c.has(App::AnyDesk), "remote-access-client", "AnyDesk client"),
        (
            c.has(App::Ike)
                || c.has(App::OpenVpn)
                || c.has(App::WireGuard)
                || c.has(App::AnyConnect)
                || c.has(App::FortiSslVpn),
            "remote-access-client",
            "VPN client",
        ),
        (s.has(App::Http) || s.has(App::Tls), "web-server", "HTTP or TLS server"),
    ];
    rules.iter().find(|r| r.0).map(|r| (r.1, r.2))
}

#[cfg(test)]
mod tests;
