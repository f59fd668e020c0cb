//! SSDP in ndpi_ssdp_m_search_ua.pcap and ndpi_anyconnect_vpn.pcap.

mod support;

use sekimori_proto::identify::{Ctx, Side};
use sekimori_proto::ssdp::probe_datagram;
use sekimori_proto::{App, Fact, FactKey, Subject, Verdict};

fn ssdp(name: &str) -> Vec<support::Segment> {
    support::segments(name)
        .into_iter()
        .filter(|s| !s.is_tcp() && (s.sport() == 1900 || s.dport() == 1900))
        .collect()
}

#[test]
fn m_search_user_agent() {
    let segs = ssdp("ndpi_ssdp_m_search_ua.pcap");
    assert_eq!(segs.len(), 4);
    let ctx = Ctx { client_port: segs[0].sport(), server_port: 1900 };
    for s in &segs {
        assert_eq!(
            probe_datagram(&ctx, Side::Client, &s.payload),
            Verdict::Yes {
                app: App::Ssdp,
                facts: vec![
                    Fact::new(
                        Subject::Client,
                        FactKey::UserAgent,
                        "Google Chrome/99.0.4844.74 Mac OS X"
                    )
                    .unwrap()
                ],
                more: true,
            }
        );
    }
}

#[test]
fn roku_search_response() {
    let segs = ssdp("ndpi_anyconnect_vpn.pcap");
    let resp =
        segs.iter().find(|s| s.payload.starts_with(b"HTTP/1.1 200")).expect("a search response");
    assert_eq!(resp.src.0, "10.0.0.151".parse::<std::net::IpAddr>().unwrap());
    let ctx = Ctx { client_port: resp.sport(), server_port: resp.dport() };
    let f = |k, v| Fact::new(Subject::Client, k, v).unwrap();
    assert_eq!(
        probe_datagram(&ctx, Side::Client, &resp.payload),
        Verdict::Yes {
            app: App::Ssdp,
            facts: vec![
                f(FactKey::Description, "Roku UPnP/1.0 Roku/9.1.0"),
                f(FactKey::Product, "Roku"),
                f(FactKey::Version, "9.1.0"),
                f(FactKey::SsdpLocation, "http://10.0.0.151:8060/dial/dd.xml"),
            ],
            more: true,
        }
    );
    // Every SSDP datagram in the capture is identified.
    for s in &segs {
        let ctx = Ctx { client_port: s.sport(), server_port: s.dport() };
        assert!(
            matches!(probe_datagram(&ctx, Side::Client, &s.payload), Verdict::Yes { .. }),
            "{:?}",
            String::from_utf8_lossy(&s.payload)
        );
    }
}
