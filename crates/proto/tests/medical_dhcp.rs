//! DHCP in three captures; expected values from `tshark -T fields -e
//! dhcp.option.*`.

mod support;

use sekimori_proto::dhcp::{Op, parse, probe_datagram};
use sekimori_proto::identify::{Ctx, Side};
use sekimori_proto::{App, Fact, FactKey, Subject, Verdict};

fn dhcp_payloads(name: &str) -> Vec<Vec<u8>> {
    support::segments(name).into_iter().map(|s| s.payload).collect()
}

fn facts_of(payload: &[u8]) -> Vec<Fact> {
    let ctx = Ctx { client_port: 68, server_port: 67 };
    match probe_datagram(&ctx, Side::Client, payload) {
        Verdict::Yes { app: App::Dhcp, facts, more: true } => facts,
        v => panic!("{v:?}"),
    }
}

fn fact(s: Subject, k: FactKey, v: &str) -> Fact {
    Fact::new(s, k, v).unwrap()
}

#[test]
fn option_60_vendor_class_request() {
    let p = dhcp_payloads("sv_dhcp_option60_vendor_class.pcap");
    let mac = Subject::Mac([0x28, 0xcf, 0xda, 0xdc, 0x8d, 0x76]);
    assert_eq!(
        facts_of(&p[0]),
        vec![
            fact(mac, FactKey::Hostname, "NicksMacBook"),
            fact(mac, FactKey::DhcpVendorClass, "MSFT 5.0"),
            fact(mac, FactKey::DhcpParamList, "1,15,3,6,44,46,47,31,33,121,249,43"),
            fact(mac, FactKey::DhcpClientId, "01:28:cf:da:dc:8d:76"),
            fact(mac, FactKey::DhcpRequestedIp, "192.168.1.111"),
        ]
    );
    let m = parse(&p[0]).unwrap();
    assert_eq!(m.fqdn.as_deref(), Some("NicksMacBook"), "option 81, same name: one fact");
    assert_eq!(m.message_type, Some(3));
}

#[test]
fn wireshark_dora() {
    let p = dhcp_payloads("arkime_wireshark_dhcp.pcap");
    assert_eq!(p.len(), 4);
    let mac = Subject::Mac([0x00, 0x0b, 0x82, 0x01, 0xfc, 0x42]);
    // DISCOVER: requested 0.0.0.0 is no fact.
    assert_eq!(
        facts_of(&p[0]),
        vec![
            fact(mac, FactKey::DhcpParamList, "1,3,6,42"),
            fact(mac, FactKey::DhcpClientId, "01:00:0b:82:01:fc:42"),
        ]
    );
    // OFFER: only the offering server. REQUEST: the address asked for
    // from that server. ACK: the address given.
    let server = fact(mac, FactKey::DhcpServerId, "192.168.0.1");
    assert_eq!(facts_of(&p[1]), vec![server.clone()]);
    assert!(facts_of(&p[2]).contains(&fact(mac, FactKey::DhcpRequestedIp, "192.168.0.10")));
    assert!(facts_of(&p[2]).contains(&server));
    assert_eq!(facts_of(&p[3]), vec![fact(mac, FactKey::DhcpAssignedIp, "192.168.0.10"), server]);
    let ack = parse(&p[3]).unwrap();
    assert_eq!((ack.op, ack.message_type), (Op::Reply, Some(5)));
    assert_eq!(ack.server_id, Some("192.168.0.1".parse().unwrap()));
}

#[test]
fn zeek_dhcp_hostname_and_lease() {
    let p = dhcp_payloads("zeek_dhcp.pcap");
    assert_eq!(p.len(), 9);
    let mac = Subject::Mac([0x90, 0xb1, 0x1c, 0x99, 0x49, 0x29]);
    assert_eq!(
        facts_of(&p[0]),
        vec![
            fact(mac, FactKey::Hostname, "btest.is.cool"),
            fact(mac, FactKey::DhcpRequestedIp, "192.168.211.194"),
        ]
    );
    // Frame 6 is the ACK for 128.2.6.189 (not the 192.168.211.194 asked
    // for in the DISCOVER) from server 128.2.6.152.
    let server = fact(mac, FactKey::DhcpServerId, "128.2.6.152");
    assert_eq!(
        facts_of(&p[5]),
        vec![fact(mac, FactKey::DhcpAssignedIp, "128.2.6.189"), server.clone()]
    );
    // The offer's vendor class (ArubaAP) is the server's, not the client's.
    assert_eq!(facts_of(&p[1]), vec![server]);
    assert_eq!(parse(&p[1]).unwrap().vendor_class.as_deref(), Some("ArubaAP"));
}

#[test]
fn every_prefix_of_a_captured_request_is_incomplete() {
    let p = &dhcp_payloads("sv_dhcp_option60_vendor_class.pcap")[0];
    let ctx = Ctx { client_port: 68, server_port: 67 };
    for n in 0..p.len() {
        assert!(parse(&p[..n]).is_err(), "prefix {n}");
        assert_eq!(probe_datagram(&ctx, Side::Client, &p[..n]), Verdict::No, "prefix {n}");
    }
}
