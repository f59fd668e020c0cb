//! The network of `sekimori lab incident`: a small hospital segment, the
//! internet, and the sekimori gateway between them, built from network
//! namespaces ([`crate::netns`]).
//!
//! ```text
//!   internet 198.51.100.0/24 (hub "wan")          hospital 10.66.0.0/24 (hub "lan", floods every frame)
//!   inet    .66  attacker + drop server           nurse     .10  nurse-call server
//!   vendor  .77  vendor's laptop                  station   .11  nurse station (+ ward PCs .101–.112)
//!   thief   .88  someone with a stolen password   pacs      .20  PACS
//!   gw      .5  ── sekimori serve ──  gw .5       modality  .21  CT scanner
//!   router  .1  ── router ─────────  router .1    vpnbox    .40  a vendor's forgotten VPN box
//!                                                 ce        .50  clinical engineering PC (approver)
//!                                                 siem      .60  the SIEM (syslog receiver)
//!                                                 sensor    SPAN port (no address); .6 management
//! ```
//!
//! Both hubs live in namespace `sw` (no addresses). The router forwards
//! between the two hubs; the gateway has a leg in each
//! and forwards nothing: the vendor reaches the CT scanner only through
//! `sekimori serve`'s tunnels.

use crate::netns::{Netlab, NetlabError};

/// The hospital's addresses.
pub const HOSPITAL_RANGE: &str = "10.66.0.0/24";
pub const ROUTER_LAN: &str = "10.66.0.1";
pub const ROUTER_WAN: &str = "198.51.100.1";
pub const GATEWAY_LAN: &str = "10.66.0.5";
pub const GATEWAY_WAN: &str = "198.51.100.5";
pub const NURSE_CALL: &str = "10.66.0.10";
pub const STATION: &str = "10.66.0.11";
pub const PACS: &str = "10.66.0.20";
pub const MODALITY: &str = "10.66.0.21";
pub const VPN_BOX: &str = "10.66.0.40";
pub const CE_PC: &str = "10.66.0.50";
/// The SIEM that receives sekimori's alerts (syslog over TCP).
pub const SIEM: &str = "10.66.0.60";
/// The sensor's management address (its capture port has none).
pub const SENSOR_MGMT: &str = "10.66.0.6";
pub const INTERNET: &str = "198.51.100.66";
pub const VENDOR: &str = "198.51.100.77";
pub const THIEF: &str = "198.51.100.88";
/// The ward PCs (extra addresses of the station's namespace): the targets
/// of the lateral-movement stage.
pub const WARD_PCS: std::ops::RangeInclusive<u8> = 101..=112;

/// The lab's network policy (zones, rules, detections with short windows).
pub const POLICY: &str = include_str!("../data/incident-policy.toml");

/// Namespace short names; the sensor's capture interface is `eth0` in
/// [`SENSOR`].
pub const SWITCH: &str = "sw";
pub const ROUTER: &str = "router";
pub const GATEWAY: &str = "gw";
pub const SENSOR: &str = "sensor";
pub const NURSE: &str = "nurse";
pub const STATION_NS: &str = "station";
pub const PACS_NS: &str = "pacs";
pub const MODALITY_NS: &str = "modality";
pub const VPN_BOX_NS: &str = "vpnbox";
pub const CE_NS: &str = "ce";
pub const SIEM_NS: &str = "siem";
pub const INTERNET_NS: &str = "inet";
pub const VENDOR_NS: &str = "vendor";
pub const THIEF_NS: &str = "thief";

/// The address of ward PC `n` (one of [`WARD_PCS`]).
pub fn ward_pc(n: u8) -> String {
    format!("10.66.0.{n}")
}

/// Builds the network into `lab` (namespaces, hubs, veths, addresses,
/// routes).
pub fn build(lab: &mut Netlab) -> Result<(), NetlabError> {
    lab.add(SWITCH)?;
    lab.hub(SWITCH, "lan")?;
    lab.hub(SWITCH, "wan")?;
    // The router on a port of each hub (not the bridges' own address: frames
    // to a bridge's own address are not flooded, so the sensor would miss
    // everything sent to the internet).
    lab.add(ROUTER)?;
    lab.plug(ROUTER, "lan0", SWITCH, "lan", "l-router")?;
    lab.plug(ROUTER, "wan0", SWITCH, "wan", "w-router")?;
    lab.address(ROUTER, "lan0", &format!("{ROUTER_LAN}/24"))?;
    lab.address(ROUTER, "wan0", &format!("{ROUTER_WAN}/24"))?;
    lab.forward(ROUTER)?;

    let lan_hosts = [
        (NURSE, NURSE_CALL),
        (STATION_NS, STATION),
        (PACS_NS, PACS),
        (MODALITY_NS, MODALITY),
        (VPN_BOX_NS, VPN_BOX),
        (CE_NS, CE_PC),
        (SIEM_NS, SIEM),
    ];
    for (ns, addr) in lan_hosts {
        lab.add(ns)?;
        lab.plug(ns, "eth0", SWITCH, "lan", &format!("l-{ns}"))?;
        lab.address(ns, "eth0", &format!("{addr}/24"))?;
        lab.default_route(ns, ROUTER_LAN)?;
    }
    for n in WARD_PCS {
        lab.address(STATION_NS, "eth0", &format!("{}/24", ward_pc(n)))?;
    }
    for (ns, addr) in [(INTERNET_NS, INTERNET), (VENDOR_NS, VENDOR), (THIEF_NS, THIEF)] {
        lab.add(ns)?;
        lab.plug(ns, "eth0", SWITCH, "wan", &format!("w-{ns}"))?;
        lab.address(ns, "eth0", &format!("{addr}/24"))?;
        lab.default_route(ns, ROUTER_WAN)?;
    }
    lab.add(GATEWAY)?;
    lab.plug(GATEWAY, "lan0", SWITCH, "lan", "l-gw")?;
    lab.plug(GATEWAY, "wan0", SWITCH, "wan", "w-gw")?;
    lab.address(GATEWAY, "lan0", &format!("{GATEWAY_LAN}/24"))?;
    lab.address(GATEWAY, "wan0", &format!("{GATEWAY_WAN}/24"))?;
    // The sensor's capture port has no address, it only listens; its
    // management port reaches the store's peers and the SIEM.
    lab.add(SENSOR)?;
    lab.plug(SENSOR, "eth0", SWITCH, "lan", "l-sensor")?;
    lab.plug(SENSOR, "mgmt0", SWITCH, "lan", "l-sensor-m")?;
    lab.address(SENSOR, "mgmt0", &format!("{SENSOR_MGMT}/24"))?;
    Ok(())
}
