//! Syslog in ndpi_syslog.pcap (UDP inside PPPoE): every datagram on udp/514
//! is identified, and the headers' host and app names are as written.

mod support;

use sekimori_proto::identify::{Ctx, Side};
use sekimori_proto::syslog::probe_datagram;
use sekimori_proto::{App, Fact, FactKey, Subject, Verdict};

#[test]
fn syslog_capture() {
    let segs: Vec<_> = support::segments("ndpi_syslog.pcap")
        .into_iter()
        .filter(|s| !s.is_tcp() && (s.sport() == 514 || s.dport() == 514))
        .collect();
    // 83 on udp/514 in tshark, the 6 tunnelled in 6in4 included.
    assert_eq!(segs.len(), 83);
    let mut facts = Vec::new();
    for s in &segs {
        let ctx = Ctx { client_port: s.sport(), server_port: s.dport() };
        match probe_datagram(&ctx, Side::Client, &s.payload) {
            Verdict::Yes { app: App::Syslog, facts: f, .. } => {
                for f in f {
                    if !facts.contains(&f) {
                        facts.push(f);
                    }
                }
            }
            v => panic!("{}: {v:?}", String::from_utf8_lossy(&s.payload)),
        }
    }
    let f = |k, v| Fact::new(Subject::Client, k, v).unwrap();
    for want in [
        f(FactKey::Hostname, "nb6"),
        f(FactKey::SyslogApp, "nbd"),
        f(FactKey::SyslogApp, "chillispot"),
        f(FactKey::Hostname, "pfSense.localdomain"),
        f(FactKey::SyslogApp, "suricata"),
        f(FactKey::Hostname, "NDC3CLNDMVA22"),
        f(FactKey::SyslogApp, "kernel"),
        f(FactKey::Hostname, "ndc3lvmsdptd2"),
        f(FactKey::SyslogApp, "filebeat"),
        f(FactKey::SyslogApp, "snmpd"),
        f(FactKey::Hostname, "R1"),
        f(FactKey::Hostname, "ATMFLJQABIL-UT-83"),
        f(FactKey::Serial, "FGT61ETK19009449"),
        f(FactKey::Vendor, "Fortinet"),
    ] {
        assert!(facts.contains(&want), "{want:?} not in {facts:#?}");
    }
    // Message text is never a fact.
    assert!(!facts.iter().any(|f| f.value.contains("Connection") || f.value.contains("Interface")));
}
