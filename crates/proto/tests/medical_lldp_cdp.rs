//! LLDP in arkime_wireshark_lldp.pcap and CDP in zeek_cdp_v1.pcap, values
//! as tshark shows them.

mod support;

use sekimori_proto::identify::frame;
use sekimori_proto::{App, Fact, FactKey, Subject, Verdict};

fn fact(s: Subject, k: FactKey, v: &str) -> Fact {
    Fact::new(s, k, v).unwrap()
}

fn link(name: &str) -> Vec<(&'static str, [u8; 6], Vec<u8>)> {
    support::link_pdus(name).into_iter().map(|(mac, kind, pdu)| (kind, mac, pdu)).collect()
}

#[test]
fn lldp_extreme_and_procurve() {
    let frames = link("arkime_wireshark_lldp.pcap");
    assert!(frames.iter().all(|(kind, _, _)| *kind == "lldp"));
    let probe = |i: usize| sekimori_proto::lldp::probe_frame(frames[i].1, &frames[i].2);
    // Frame 1: chassis and port only.
    assert_eq!(probe(0), Verdict::Yes { app: App::Lldp, facts: vec![], more: false });
    let summit = Subject::Mac([0x00, 0x01, 0x30, 0xf9, 0xad, 0xa0]);
    let desc = "Summit300-48 - Version 7.4e.1 (Build 5) by Release_Master 05/27/05 04:53:11";
    assert_eq!(
        probe(1),
        Verdict::Yes {
            app: App::Lldp,
            facts: vec![
                fact(summit, FactKey::SystemName, "Summit300-48"),
                fact(summit, FactKey::Description, desc),
                fact(summit, FactKey::Vendor, "Extreme Networks"),
                fact(summit, FactKey::Product, "Summit300-48"),
                fact(summit, FactKey::Version, "7.4e.1"),
            ],
            more: false,
        }
    );
    // Frame 3: the chassis MAC (…:40) differs from the source MAC (…:7f);
    // the management address gets the name too.
    let procurve = Subject::Mac([0x00, 0x13, 0x21, 0x57, 0xca, 0x40]);
    let Verdict::Yes { facts, .. } = probe(2) else { panic!() };
    assert_eq!(
        facts,
        vec![
            fact(procurve, FactKey::SystemName, "ProCurve Switch 2600-8-PWR"),
            fact(
                Subject::Ip("15.255.122.148".parse().unwrap()),
                FactKey::SystemName,
                "ProCurve Switch 2600-8-PWR"
            ),
            fact(
                procurve,
                FactKey::Description,
                "ProCurve J8762A Switch 2600-8-PWR, revision H.08.89, ROM H.08.5X (/sw/code/build/fish(ts_08_5))"
            ),
            fact(procurve, FactKey::Vendor, "HP"),
            fact(procurve, FactKey::Version, "H.08.89"),
        ]
    );
    // Through the dispatcher, and every prefix of a frame is no LLDPDU
    // until the mandatory TLVs are in.
    assert!(matches!(frame(frames[1].1, &frames[1].2), Verdict::Yes { app: App::Lldp, .. }));
    for n in 0..15 {
        assert_eq!(
            sekimori_proto::lldp::probe_frame(frames[1].1, &frames[1].2[..n]),
            Verdict::No,
            "prefix {n}"
        );
    }
}

#[test]
fn cdp_v1_cisco_1601() {
    let frames = link("zeek_cdp_v1.pcap");
    let (kind, mac, payload) = &frames[0];
    assert_eq!(*kind, "cdp");
    let s = Subject::Mac(*mac);
    assert_eq!(*mac, [0x00, 0xe0, 0x1e, 0xd5, 0xd5, 0x15]);
    let sw = "Cisco Internetwork Operating System Software IOS (tm) 1600 Software (C1600-NY-L), Version 11.2(12)P, RELEASE SOFTWARE (fc1) Copyright (c) 1986-1998 by cisco Systems, Inc. Compiled Tue 03-Mar-98 06:33 by dschwart";
    assert_eq!(
        sekimori_proto::cdp::probe_frame(*mac, payload),
        Verdict::Yes {
            app: App::Cdp,
            facts: vec![
                fact(s, FactKey::SystemName, "R1"),
                fact(Subject::Ip("192.168.10.1".parse().unwrap()), FactKey::SystemName, "R1"),
                fact(s, FactKey::Vendor, "Cisco"),
                fact(s, FactKey::Product, "cisco 1601"),
                fact(s, FactKey::Description, sw),
                fact(s, FactKey::Version, "11.2(12)P"),
            ],
            more: false,
        }
    );
    assert!(matches!(frame(*mac, payload), Verdict::Yes { app: App::Cdp, .. }));
    // Every prefix: no (a TLV cut short) or a verdict with fewer facts; never a panic.
    for n in 0..payload.len() {
        let _ = sekimori_proto::cdp::probe_frame(*mac, &payload[..n]);
    }
    assert_eq!(sekimori_proto::lldp::probe_frame(*mac, payload), Verdict::No);
}
