//! NetFlow v9 and IPFIX captures through the collector's decoder and the
//! probe. Expected values from `tshark -V` (`-d udp.port==2057,cflow` for
//! the v9 file).

mod support;

use std::net::SocketAddr;

use sekimori_proto::identify::{Ctx, Side};
use sekimori_proto::netflow::{Decoder, ExportVersion, FlowRecord, FlowTime, probe_datagram};
use sekimori_proto::{App, Fact, FactKey, Subject, Verdict};

fn decode_all(name: &str) -> (Vec<FlowRecord>, Vec<sekimori_proto::netflow::Summary>) {
    let mut d = Decoder::new();
    let mut out = Vec::new();
    let mut sums = Vec::new();
    for s in support::segments(name) {
        let exporter = SocketAddr::new(s.src.0, s.sport());
        sums.push(d.decode(exporter, &s.payload, &mut out).expect("decodes"));
    }
    (out, sums)
}

#[test]
fn ipfix_softflowd_export_yields_32_flow_records() {
    let (recs, sums) = decode_all("gen_ipfix_softflowd_export.pcap");
    assert_eq!(sums.len(), 2);
    assert_eq!(sums[0].templates, 5, "4 data templates + 1 options template");
    assert_eq!(sums[0].options_records, 1);
    assert_eq!((sums[0].records, sums[1].records), (24, 8));
    assert_eq!(sums[1].sequence, 32);
    assert!(
        sums.iter()
            .all(|s| s.sets_without_template == 0 && s.version == Some(ExportVersion::Ipfix))
    );
    assert_eq!(recs.len(), 32);

    // Flow 1 of the first packet; times are uptime + the System Init Time
    // the options record announced (Nov 22, 2026 11:12:36.603 UTC).
    let init = 1_795_345_956_603u64;
    let r = &recs[0];
    assert_eq!(r.src, Some("192.168.75.18".parse().unwrap()));
    assert_eq!(r.dst, Some("166.161.181.18".parse().unwrap()));
    assert_eq!((r.src_port, r.dst_port, r.protocol), (60201, 443, 17));
    assert_eq!((r.bytes, r.packets), (3195, 10));
    assert_eq!((r.input_if, r.output_if, r.tcp_flags), (Some(0), Some(0), Some(0)));
    assert_eq!(r.first, Some(FlowTime::UnixMillis(init + 4_245_402_683)));
    assert_eq!(r.last, Some(FlowTime::UnixMillis(init + 4_245_402_990)));
    assert_eq!(r.template_id, 1024);

    // Flow 5: TeamViewer, TCP flags ACK|PSH|SYN.
    let r = &recs[4];
    assert_eq!(
        (r.src_port, r.dst_port, r.protocol, r.bytes, r.packets),
        (35732, 5938, 6, 66191, 129)
    );
    assert_eq!(r.tcp_flags, Some(0x1a));

    // Last flow of the second packet: the HL7 client.
    let r = &recs[31];
    assert_eq!(r.src, Some("10.20.7.44".parse().unwrap()));
    assert_eq!(r.dst, Some("10.20.1.20".parse().unwrap()));
    assert_eq!((r.src_port, r.dst_port, r.protocol, r.bytes, r.packets), (35033, 2575, 6, 509, 6));
    assert_eq!(r.tcp_flags, Some(0x1b));
}

#[test]
fn netflow_v9_without_templates_counts_what_it_cannot_decode() {
    let (recs, sums) = decode_all("ndpi_netflowv9.pcap");
    assert_eq!(sums.len(), 10);
    assert!(recs.is_empty(), "the capture never carries a template");
    assert_eq!(sums.iter().map(|s| s.sets_without_template).sum::<u32>(), 23);
    assert_eq!(sums.iter().map(|s| s.bytes_without_template).sum::<u32>(), 13176);
    assert_eq!(sums[0].sequence, 376_415_880);
    assert!(sums.iter().all(|s| s.domain == 1 && s.version == Some(ExportVersion::V9)));
}

#[test]
fn probes_name_both_captures() {
    for (file, app, fact) in [
        ("ndpi_netflowv9.pcap", App::NetflowV9, "netflow-v9 source 1"),
        ("gen_ipfix_softflowd_export.pcap", App::Ipfix, "ipfix domain 0"),
    ] {
        for s in support::segments(file) {
            let ctx = Ctx { client_port: s.sport(), server_port: s.dport() };
            assert_eq!(
                probe_datagram(&ctx, Side::Client, &s.payload),
                Verdict::Yes {
                    app,
                    facts: vec![Fact::new(Subject::Client, FactKey::FlowExporter, fact).unwrap()],
                    more: false
                },
                "{file}"
            );
            // A datagram cut short is not an export packet.
            let cut = &s.payload[..s.payload.len() - 1];
            assert_eq!(probe_datagram(&ctx, Side::Client, cut), Verdict::No, "{file}");
        }
    }
}
