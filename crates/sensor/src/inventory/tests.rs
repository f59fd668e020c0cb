use super::*;
use crate::flow::EndReason;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))
}

fn mac(last: u8) -> Mac {
    // 00:1b:21 is Intel's OUI.
    Mac([0x00, 0x1b, 0x21, 0, 0, last])
}

fn ts(s: u64) -> Timestamp {
    Timestamp::from_parts(1_700_000_000 + s, 0)
}

/// A flow record from `src` (with `smac`) to `dst` (with `dmac`).
fn rec(src: &str, smac: Option<Mac>, dst: &str, dmac: Option<Mac>, app: Option<App>) -> FlowRecord {
    FlowRecord {
        src: ip(src),
        dst: ip(dst),
        sport: 50000,
        dport: 443,
        transport: "tcp",
        app,
        port_hint: None,
        packets_out: 3,
        packets_in: 2,
        bytes_out: 300,
        bytes_in: 200,
        first: ts(0),
        last: ts(10),
        vlan: None,
        vlan_inner: None,
        tcp_state: Some("closed"),
        direction_guessed: false,
        fragments: 0,
        src_mac: smac,
        dst_mac: dmac,
        to_group_mac: false,
        end: EndReason::End,
        continued: false,
        source: crate::record::SOURCE_PACKETS,
        facts: Vec::new(),
    }
}

fn fact(subject: Subject, key: FactKey, value: &str) -> Fact {
    Fact::new(subject, key, value).unwrap_or_else(|| Fact { subject, key, value: String::new() })
}

fn find<'a>(assets: &'a [Asset], addr: &str) -> &'a Asset {
    let want = ip(addr);
    assets
        .iter()
        .find(|a| a.ips.contains(&want))
        .unwrap_or_else(|| panic!("no asset {addr}: {assets:#?}"))
}

#[test]
fn local_hosts_are_merged_by_mac_across_their_addresses() {
    let mut inv = Inventory::new();
    inv.flow(&rec("10.0.0.5", Some(mac(5)), "10.0.0.1", Some(mac(1)), Some(App::Ssh)));
    inv.flow(&rec("fe80::21b:21ff:fe00:5", Some(mac(5)), "fe80::1", Some(mac(1)), None));
    let a = inv.assets();
    assert_eq!(a.len(), 2, "{a:#?}");
    let host = find(&a, "10.0.0.5");
    assert_eq!(host.ips, vec![ip("10.0.0.5"), ip("fe80::21b:21ff:fe00:5")]);
    assert_eq!(host.ip, Some(ip("10.0.0.5")));
    assert_eq!(host.id, "mac:00:1b:21:00:00:05");
    assert_eq!(host.mac_vendor, Some("Intel Corporate"));
    assert_eq!(host.vendor.as_deref(), Some("Intel Corporate"), "OUI when no fact says");
    assert_eq!(host.protocols_as_client, vec![App::Ssh]);
    let server = find(&a, "10.0.0.1");
    assert_eq!(server.protocols_as_server, vec![App::Ssh]);
    assert_eq!(server.role, Some("managed-host"));
    assert_eq!(server.role_basis, Some("SSH server"));
    assert!(server.local);
    assert_eq!((server.first_seen, server.last_seen), (Some(ts(0)), Some(ts(10))));
}

#[test]
fn a_router_mac_does_not_merge_the_hosts_behind_it() {
    let mut inv = Inventory::new();
    let router = mac(0xfe);
    for server in ["93.184.216.34", "142.250.1.1", "52.1.2.3"] {
        inv.flow(&rec("192.168.1.10", Some(mac(10)), server, Some(router), Some(App::Tls)));
    }
    let a = inv.assets();
    assert_eq!(a.len(), 4, "{a:#?}");
    for server in ["93.184.216.34", "142.250.1.1", "52.1.2.3"] {
        let s = find(&a, server);
        assert_eq!(s.mac, None);
        assert_eq!(s.id, format!("ip:{server}"));
        assert!(!s.local);
        assert_eq!(s.role, Some("web-server"));
    }
    assert_eq!(find(&a, "192.168.1.10").mac, Some(mac(10)));
    assert!(a.iter().all(|x| x.mac != Some(router)), "the router's MAC alone is no asset");
}

#[test]
fn arp_binds_a_routers_own_address_to_its_mac() {
    let mut inv = Inventory::new();
    let router = mac(0xfe);
    for server in ["93.184.216.34", "142.250.1.1"] {
        inv.flow(&rec("192.168.1.10", Some(mac(10)), server, Some(router), None));
    }
    inv.arp(router.0, ip("192.168.1.1"), ts(5));
    let a = inv.assets();
    let gw = find(&a, "192.168.1.1");
    assert_eq!(gw.mac, Some(router));
    assert_eq!(gw.ips, vec![ip("192.168.1.1")]);
    assert_eq!(find(&a, "93.184.216.34").mac, None);
}

#[test]
fn a_mac_seen_with_one_public_address_only_is_bound_to_it() {
    // The documented rule: a public-addressed LAN host (or, unavoidably, a
    // single server behind a router) merges with the only MAC it came from.
    let mut inv = Inventory::new();
    inv.flow(&rec("198.51.100.7", Some(mac(7)), "203.0.113.9", Some(mac(9)), None));
    let a = inv.assets();
    assert_eq!(find(&a, "198.51.100.7").mac, Some(mac(7)));
    assert_eq!(find(&a, "203.0.113.9").mac, Some(mac(9)));
    assert!(!find(&a, "203.0.113.9").local);
}

#[test]
fn several_local_ipv4_addresses_from_one_mac_make_it_a_router() {
    let mut inv = Inventory::new();
    let gw = mac(0xfe);
    inv.flow(&rec("10.1.0.5", Some(gw), "10.2.0.1", Some(mac(1)), None));
    inv.flow(&rec("10.1.0.6", Some(gw), "10.2.0.1", Some(mac(1)), None));
    let a = inv.assets();
    assert_eq!(find(&a, "10.1.0.5").mac, None);
    assert_eq!(find(&a, "10.1.0.6").mac, None);
    assert_eq!(find(&a, "10.2.0.1").mac, Some(mac(1)));
}

#[test]
fn a_dhcp_client_is_named_and_addressed_through_its_mac() {
    let mut inv = Inventory::new();
    let m = mac(0x42);
    let mut r = rec("0.0.0.0", Some(m), "255.255.255.255", None, Some(App::Dhcp));
    r.packets_in = 0;
    r.facts = vec![
        fact(Subject::Mac(m.0), FactKey::Hostname, "NicksMacBook"),
        fact(Subject::Mac(m.0), FactKey::DhcpVendorClass, "MSFT 5.0"),
        // Asked for, then given another address (zeek_dhcp.pcap does so).
        fact(Subject::Mac(m.0), FactKey::DhcpRequestedIp, "192.168.211.194"),
        fact(Subject::Mac(m.0), FactKey::DhcpAssignedIp, "192.168.1.111"),
        fact(Subject::Client, FactKey::DhcpParamList, "1,3,6"),
    ];
    inv.flow(&r);
    let a = inv.assets();
    assert_eq!(a.len(), 1, "{a:#?}");
    let c = &a[0];
    assert_eq!(c.ip, Some(ip("192.168.1.111")));
    assert_eq!(c.ips, vec![ip("192.168.1.111")], "the requested address binds nothing");
    assert_eq!(c.mac, Some(m));
    assert_eq!(c.names, vec!["NicksMacBook".to_owned()]);
    assert_eq!(c.protocols_as_client, vec![App::Dhcp]);
    assert!(
        c.facts.contains(&KeyValue { key: FactKey::DhcpVendorClass, value: "MSFT 5.0".into() })
    );
    assert!(c.facts.contains(&KeyValue { key: FactKey::DhcpParamList, value: "1,3,6".into() }));
}

#[test]
fn broadcast_and_multicast_destinations_are_not_assets() {
    let mut inv = Inventory::new();
    let mut r = rec("10.0.0.227", Some(mac(1)), "10.0.0.255", None, Some(App::Nbns));
    r.packets_in = 0;
    r.to_group_mac = true;
    inv.flow(&r);
    let mut m = rec("10.0.0.227", Some(mac(1)), "224.0.0.251", None, Some(App::Mdns));
    m.packets_in = 0;
    inv.flow(&m);
    let a = inv.assets();
    assert_eq!(a.len(), 1, "{a:#?}");
    assert_eq!(a[0].protocols_as_client, vec![App::Mdns, App::Nbns]);
}

#[test]
fn facts_give_names_vendor_product_version_and_roles() {
    let mut inv = Inventory::new();
    let mut r = rec("10.20.5.31", Some(mac(0x31)), "10.20.1.10", Some(mac(0x10)), Some(App::Dicom));
    r.facts = vec![
        fact(Subject::Client, FactKey::DicomAeTitle, "CT_SCANNER_01"),
        fact(Subject::Server, FactKey::DicomAeTitle, "PACS_MAIN"),
        fact(Subject::Client, FactKey::DicomImplVersion, "PYNETDICOM_304"),
        fact(Subject::Server, FactKey::Vendor, "Acme Imaging"),
        fact(Subject::Server, FactKey::Product, "PACS"),
        fact(Subject::Server, FactKey::Version, "7.1"),
        fact(Subject::Server, FactKey::Version, "7.2"),
    ];
    inv.flow(&r);
    // A DNS answer names the PACS too; an address that never took part in
    // a flow gets no asset from a DNS answer alone.
    let mut dns = rec("10.20.5.31", Some(mac(0x31)), "10.20.0.53", Some(mac(0x53)), Some(App::Dns));
    dns.facts = vec![
        fact(Subject::Ip(ip("10.20.1.10")), FactKey::DnsName, "pacs.hospital.example"),
        fact(Subject::Ip(ip("10.20.9.9")), FactKey::DnsName, "nothing.hospital.example"),
    ];
    inv.flow(&dns);
    let a = inv.assets();
    assert_eq!(a.len(), 3, "{a:#?}");
    let pacs = find(&a, "10.20.1.10");
    assert_eq!(pacs.names, vec!["PACS_MAIN".to_owned(), "pacs.hospital.example".to_owned()]);
    assert_eq!(pacs.vendor.as_deref(), Some("Acme Imaging"));
    assert_eq!(pacs.product.as_deref(), Some("PACS"));
    assert_eq!(pacs.version.as_deref(), Some("7.1"), "the first version seen");
    assert_eq!(pacs.role, Some("pacs-or-modality"));
    let ct = find(&a, "10.20.5.31");
    assert_eq!(ct.names, vec!["CT_SCANNER_01".to_owned()]);
    assert_eq!(ct.role, Some("modality-or-workstation"));
    assert_eq!(ct.protocols, vec![App::Dicom, App::Dns]);
    assert_eq!(find(&a, "10.20.0.53").role, Some("dns-server"));
}

#[test]
fn lldp_announcers_are_assets_by_mac() {
    let mut inv = Inventory::new();
    let sw = Mac([0x00, 0x04, 0x96, 0x1f, 0xa7, 0x26]);
    let facts = vec![
        fact(Subject::Mac(sw.0), FactKey::SystemName, "Summit300-48"),
        fact(Subject::Mac(sw.0), FactKey::Vendor, "Extreme Networks"),
    ];
    inv.frame(sw.0, App::Lldp, &facts, ts(1));
    let a = inv.assets();
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].ip, None);
    assert_eq!(a[0].mac, Some(sw));
    assert_eq!(a[0].names, vec!["Summit300-48".to_owned()]);
    assert_eq!(a[0].protocols, vec![App::Lldp]);
    assert_eq!(a[0].role, Some("network-device"));
    assert!(a[0].local);
}

#[test]
fn local_scope() {
    for l in
        ["10.1.2.3", "172.16.0.1", "192.168.1.1", "100.64.0.1", "169.254.1.1", "fe80::1", "fd00::1"]
    {
        assert!(is_local(ip(l)), "{l}");
    }
    for g in ["8.8.8.8", "100.128.0.1", "2001:db8::1", "172.32.0.1"] {
        assert!(!is_local(ip(g)), "{g}");
    }
    assert!(
        !is_host_ip(ip("0.0.0.0"))
            && !is_host_ip(ip("255.255.255.255"))
            && !is_host_ip(ip("ff02::fb"))
    );
}
