//! IKE on the shared captures: IKEv1 main mode with Fortinet, Cisco and DPD
//! vendor IDs (arkime), IKEv2 on 500 and NAT-T 4500 with ESP in UDP (nDPI).

mod support;

use proptest::prelude::*;
use sekimori_proto::identify::{Ctx, Side};
use sekimori_proto::{App, Fact, FactKey, Subject, Verdict, ike};
use support::{Segment, udp_datagrams, values, yes};

/// Feeds a flow's datagrams in order, the first sender being the client.
fn run(dgrams: &[Segment]) -> Vec<(App, Vec<Fact>, bool)> {
    let first = &dgrams[0];
    let ctx = Ctx { client_port: first.src.1, server_port: first.dst.1 };
    dgrams
        .iter()
        .map(|d| {
            let side = if d.src == first.src { Side::Client } else { Side::Server };
            yes(ike::probe_datagram(&ctx, side, &d.payload))
        })
        .collect()
}

#[test]
fn arkime_ikev1_vendor_ids() {
    let dgrams = udp_datagrams("arkime_ikev1.pcap");
    let out = run(&dgrams);
    // Frames 1-3 (tshark isakmp.vid_string).
    let (_, f1, more) = &out[0];
    assert!(*more);
    assert_eq!(values(f1, Subject::Client, FactKey::IkeVersion), ["IKEv1"]);
    assert_eq!(
        values(f1, Subject::Client, FactKey::IkeExchange),
        ["Identity Protection (Main Mode)"]
    );
    assert_eq!(
        values(f1, Subject::Client, FactKey::IkeVendorId),
        ["RFC 3706 DPD (Dead Peer Detection)", "a9b9b1034f7e50a2513b47b100bb85a9"]
    );
    let (_, f2, _) = &out[1];
    assert_eq!(
        values(f2, Subject::Server, FactKey::IkeVendorId),
        [
            "RFC 3706 DPD (Dead Peer Detection)",
            "Cisco Fragmentation",
            "Cisco Fragmentation",
            "Fortigate (Fortinet)"
        ]
    );
    assert_eq!(
        values(f2, Subject::Server, FactKey::Vendor),
        ["Fortinet"],
        "the responder is the FortiGate"
    );
    assert!(values(f2, Subject::Client, FactKey::Vendor).is_empty());
    // Key exchange (frames 4-5) is clear; from frame 6 on (main mode 5-6,
    // quick mode) encrypted: nothing more to learn.
    assert!(out[4].2);
    assert!(out[5..].iter().all(|(_, facts, more)| !more && facts.len() == 2));
    let m = ike::parse(&dgrams[0].payload).unwrap();
    assert_eq!(m.exchange_name(), Some("Identity Protection (Main Mode)"));
    assert_eq!(m.responder_spi, [0; 8]);
}

#[test]
fn ndpi_ikev2_and_nat_t() {
    let all = udp_datagrams("ndpi_ipsec_isakmp_esp.pcap");
    // IKEv2 IKE_SA_INIT on 500.
    let on500: Vec<Segment> =
        all.iter().filter(|d| d.src.1 == 500 || d.dst.1 == 500).take(4).cloned().collect();
    let out = run(&on500);
    assert!(out.iter().all(|(app, _, _)| *app == App::Ike));
    assert_eq!(values(&out[0].1, Subject::Client, FactKey::IkeVersion), ["IKEv2"]);
    assert_eq!(values(&out[0].1, Subject::Client, FactKey::IkeExchange), ["IKE_SA_INIT"]);
    assert_eq!(ike::parse(&on500[0].payload).unwrap().exchange_name(), Some("IKE_SA_INIT"));
    // The answer carries the R flag and no I flag: about the server.
    assert_eq!(values(&out[1].1, Subject::Server, FactKey::IkeVersion), ["IKEv2"]);
    // NAT-T on 4500: IKE after the non-ESP marker, and ESP in UDP.
    let flow: Vec<Segment> = all
        .iter()
        .filter(|d| {
            (d.src.1 == 4500 || d.dst.1 == 4500)
                && (d.src.0.to_string() == "109.237.187.193"
                    || d.dst.0.to_string() == "109.237.187.193")
        })
        .cloned()
        .collect();
    assert!(ike::strip_non_esp_marker(&flow[0].payload).is_some());
    let esp = flow.iter().filter(|d| ike::is_nat_t_esp(&d.payload)).count();
    let ikes = flow.iter().filter(|d| ike::strip_non_esp_marker(&d.payload).is_some()).count();
    assert!(esp > 0 && ikes > 0 && esp + ikes == flow.len(), "{esp} + {ikes} != {}", flow.len());
    let out = run(&flow);
    assert!(out.iter().all(|(app, _, _)| *app == App::Ike));
    assert_eq!(values(&out[0].1, Subject::Client, FactKey::IkeVersion), ["IKEv2"]);
    assert!(!out[0].2, "IKE_AUTH is encrypted (SK payload)");
}

/// A datagram holds a whole message: every strict prefix is refused (its
/// length field no longer matches), the whole is accepted.
#[test]
fn every_prefix_of_a_main_mode_message() {
    let d = &udp_datagrams("arkime_ikev1.pcap")[1];
    let ctx = Ctx { client_port: 500, server_port: 500 };
    for n in 0..d.payload.len() {
        assert_eq!(
            ike::probe_datagram(&ctx, Side::Server, &d.payload[..n]),
            Verdict::No,
            "prefix {n}"
        );
        assert!(ike::parse(&d.payload[..n]).is_err());
    }
    assert!(matches!(ike::probe_datagram(&ctx, Side::Server, &d.payload), Verdict::Yes { .. }));
}

#[test]
fn random_udp_on_other_ports_is_not_ike() {
    let ctx = Ctx { client_port: 5000, server_port: 53 };
    let dns = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03www\x07example\x03com\x00\x00\x01\x00\x01";
    assert_eq!(ike::probe_datagram(&ctx, Side::Client, dns), Verdict::No);
    assert_eq!(
        ike::probe_datagram(&ctx, Side::Client, &[0xc0, 1, 2, 3, 0, 0, 0, 1, 9, 9, 9, 9]),
        Verdict::No
    );
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..300), v2 in any::<bool>(), next in any::<u8>()) {
        let ctx = Ctx { client_port: 4500, server_port: 4500 };
        let _ = ike::probe_datagram(&ctx, Side::Client, &body);
        let mut msg = vec![0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 0, 0, 0, 0, next, if v2 { 0x20 } else { 0x10 }, if v2 { 34 } else { 2 }, 0, 0, 0, 0, 0];
        msg.extend_from_slice(&((body.len() + 28) as u32).to_be_bytes());
        msg.extend_from_slice(&body);
        let _ = ike::probe_datagram(&ctx, Side::Server, &msg);
        let _ = ike::parse(&msg[4..]);
    }
}
