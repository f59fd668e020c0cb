//! BACnet/IP in ndpi_bacnet.pcap: all 23 datagrams identified; the I-Am
//! frames (11, 13-15, 17) name device 0 / 4194303, vendor 260 (tshark).

mod support;

use sekimori_proto::bacnet::{Bacnet, parse, probe_datagram};
use sekimori_proto::identify::{Ctx, Side};
use sekimori_proto::{App, Fact, FactKey, Subject, Verdict};

#[test]
fn bacnet_capture() {
    let segs = support::segments("ndpi_bacnet.pcap");
    assert_eq!(segs.len(), 23);
    let mut i_am = Vec::new();
    for (i, s) in segs.iter().enumerate() {
        let ctx = Ctx { client_port: s.sport(), server_port: s.dport() };
        let Verdict::Yes { app: App::Bacnet, facts, .. } =
            probe_datagram(&ctx, Side::Client, &s.payload)
        else {
            panic!("frame {}", i + 1)
        };
        if let Some(Bacnet::IAm { instance, vendor_id, max_apdu }) = parse(&s.payload) {
            assert_eq!((vendor_id, max_apdu), (260, 1476));
            i_am.push((i + 1, instance));
            let f = |k, v: &str| Fact::new(Subject::Client, k, v).unwrap();
            assert_eq!(
                facts,
                vec![
                    f(FactKey::BacnetDeviceInstance, &instance.to_string()),
                    f(FactKey::BacnetVendorId, "260 (BACnet Stack at SourceForge)"),
                ]
            );
        }
    }
    assert_eq!(i_am, vec![(11, 0), (13, 0), (14, 0), (15, 0), (17, 4_194_303)]);
    // Frame 10 is a Who-Is (unconfirmed service 8), frame 22 a network message.
    assert_eq!(parse(&segs[9].payload), Some(Bacnet::Apdu { pdu_type: 1, service: Some(8) }));
    assert!(matches!(parse(&segs[21].payload), Some(Bacnet::Network { .. })));
    assert_eq!(parse(&segs[0].payload), Some(Bacnet::Apdu { pdu_type: 0, service: Some(12) }));
}
