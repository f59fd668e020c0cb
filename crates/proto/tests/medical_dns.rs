//! DNS, mDNS, NBNS and NetBIOS datagrams in zeek_mdns.pcap, arkime_nbns.pcap
//! and ndpi_anyconnect_vpn.pcap. Expected names as tshark shows them.

mod support;

use std::collections::BTreeMap;

use sekimori_proto::dns::{parse, probe_datagram};
use sekimori_proto::identify::{Ctx, Side};
use sekimori_proto::{App, Fact, FactKey, Subject, Verdict};

/// Every UDP datagram on a DNS-family port through the probe: the apps
/// named (count per app) and all facts.
fn run(name: &str) -> (BTreeMap<&'static str, usize>, Vec<Fact>) {
    let mut apps = BTreeMap::new();
    let mut facts = Vec::new();
    for s in support::segments(name).into_iter().filter(|s| !s.is_tcp()) {
        let ctx = Ctx { client_port: s.sport(), server_port: s.dport() };
        if !ctx.either_port(&[53, 137, 138, 5353, 5355]) {
            continue;
        }
        match probe_datagram(&ctx, Side::Client, &s.payload) {
            Verdict::Yes { app, facts: f, more: true } => {
                *apps.entry(app.as_str()).or_default() += 1;
                for f in f {
                    if !facts.contains(&f) {
                        facts.push(f);
                    }
                }
            }
            v => panic!("{name}: {}:{} -> {}: {v:?}", s.src.0, s.sport(), s.dport()),
        }
    }
    (apps, facts)
}

fn has(facts: &[Fact], s: Subject, k: FactKey, v: &str) -> bool {
    facts.contains(&Fact::new(s, k, v).unwrap())
}

fn ip(s: &str) -> Subject {
    Subject::Ip(s.parse().unwrap())
}

#[test]
fn zeek_mdns_names_both_addresses() {
    let (apps, facts) = run("zeek_mdns.pcap");
    assert_eq!(apps, BTreeMap::from([("mdns", 18)]));
    let host = "johanna-QEMU-Virtual-Machine.local";
    assert!(has(&facts, ip("10.0.2.7"), FactKey::DnsName, host));
    assert!(has(&facts, ip("fd52:429e:c03c:8235:883c:d6ff:fee1:4dc4"), FactKey::DnsName, host));
    assert!(has(&facts, ip("fd52:429e:c03c:8235:5968:5bc6:1563:f82f"), FactKey::DnsName, host));
    // Reverse-lookup PTRs announced by the responder name it too.
    assert!(has(&facts, Subject::Client, FactKey::DnsName, host));
    assert!(has(&facts, Subject::Client, FactKey::DnsQuery, "_ipp._tcp.local"));
}

#[test]
fn arkime_nbns_registrations_and_browser_announcements() {
    let (apps, facts) = run("arkime_nbns.pcap");
    assert_eq!(apps, BTreeMap::from([("nbns", 46), ("netbios-dgm", 15)]));
    let host = ip("192.168.239.129");
    assert!(has(&facts, host, FactKey::NetbiosName, "MDJR98"));
    assert!(has(&facts, host, FactKey::Domain, "WORKGROUP"));
    // Messenger-service names (<03>, here a user name) are not host names.
    assert!(!facts.iter().any(|f| f.value == "MARTIN ROSENAU"));
    assert!(!facts.iter().any(|f| f.value.contains("MSBROWSE")));
    // Browser announcements (sender = the datagram's client side).
    assert!(has(&facts, Subject::Client, FactKey::NetbiosName, "MDJR98"));
    assert!(has(&facts, Subject::Client, FactKey::Domain, "WORKGROUP"));
    assert!(has(
        &facts,
        Subject::Client,
        FactKey::Description,
        "Windows 4.0 (browser announcement)"
    ));
}

#[test]
fn anyconnect_lan_chatter() {
    let (apps, facts) = run("ndpi_anyconnect_vpn.pcap");
    assert!(apps["dns"] >= 20 && apps["mdns"] >= 4 && apps["nbns"] >= 1, "{apps:?}");
    assert!(has(&facts, Subject::Client, FactKey::DnsQuery, "vco.pandion.viasat.com"));
    assert!(has(&facts, ip("8.37.102.91"), FactKey::DnsName, "vco.pandion.viasat.com"));
    assert!(has(&facts, ip("99.86.34.156"), FactKey::DnsName, "slack.com"));
    // mDNS answer from 10.0.0.227: its service instance (not a host
    // name) and host name.
    let instance = "LP-RKERUR-OSX (9)._companion-link._tcp.local";
    assert!(has(&facts, Subject::Client, FactKey::DnsSdInstance, instance));
    assert!(!has(&facts, Subject::Client, FactKey::DnsName, instance));
    assert!(has(&facts, Subject::Client, FactKey::DnsName, "nDPI.local"));
    assert!(has(&facts, ip("10.0.0.227"), FactKey::DnsName, "nDPI.local"));
    // NBNS releases name the releasing host.
    assert!(facts.iter().any(|f| f.key == FactKey::NetbiosName && f.value == "LP-RKERUR-OSX"));
}

#[test]
fn every_prefix_of_a_captured_mdns_response() {
    let s = support::segments("zeek_mdns.pcap");
    let resp = &s.iter().find(|s| s.payload.len() > 200).unwrap().payload;
    assert!(parse(resp).is_ok());
    let ctx = Ctx { client_port: 5353, server_port: 5353 };
    for n in 0..resp.len() {
        assert!(parse(&resp[..n]).is_err(), "prefix {n}");
        assert_eq!(probe_datagram(&ctx, Side::Client, &resp[..n]), Verdict::No, "prefix {n}");
    }
    let _ = App::Mdns;
}
