//! TeamViewer on the shared capture: tcp/5938 and a UDP session on other
//! ports (which tshark 4.0 mislabels as WireGuard).

mod support;

use proptest::prelude::*;
use sekimori_proto::identify::{Ctx, Side};
use sekimori_proto::{App, Verdict, teamviewer, wireguard};
use support::{tcp_streams, udp_datagrams};

const CAPTURE: &str = "ndpi_teamviewer.pcap";

#[test]
fn tcp_5938_with_and_without_the_port_hint() {
    let s = tcp_streams(CAPTURE).into_iter().find(|s| s.server.1 == 5938).unwrap();
    let hinted = Ctx { client_port: s.client.1, server_port: 5938 };
    assert_eq!(
        teamviewer::probe_stream(&hinted, &s.to_server, &s.to_client),
        Verdict::bare(App::TeamViewer)
    );
    // Tunnelled elsewhere: the server's `11 30` answer decides.
    let elsewhere = Ctx { client_port: s.client.1, server_port: 443 };
    assert_eq!(teamviewer::probe_stream(&elsewhere, &s.to_server, b""), Verdict::NeedMore);
    assert_eq!(&s.to_client[..2], [0x11, 0x30]);
    assert_eq!(
        teamviewer::probe_stream(&elsewhere, &s.to_server, &s.to_client),
        Verdict::bare(App::TeamViewer)
    );
    // Every prefix of the client's first bytes.
    assert_eq!(teamviewer::probe_stream(&hinted, b"", b""), Verdict::NeedMore);
    assert_eq!(teamviewer::probe_stream(&hinted, &s.to_server[..1], b""), Verdict::NeedMore);
    assert_eq!(
        teamviewer::probe_stream(&hinted, &s.to_server[..2], b""),
        Verdict::bare(App::TeamViewer)
    );
}

#[test]
fn udp_session_on_high_ports() {
    let dgrams = udp_datagrams(CAPTURE);
    assert_eq!(dgrams.len(), 63);
    let ctx = Ctx { client_port: 34417, server_port: 36037 };
    // The session's first datagrams decide without any port hint.
    assert_eq!(
        teamviewer::probe_datagram(&ctx, Side::Client, &dgrams[0].payload),
        Verdict::bare(App::TeamViewer)
    );
    // Every datagram carries the magic. The one tshark 4.0 labels `wg` has
    // WireGuard's transport layout, but an old counter: the WireGuard probe
    // does not say yes to any of them.
    for d in &dgrams {
        assert_eq!(&d.payload[11..13], [0x17, 0x24]);
        assert_ne!(teamviewer::probe_datagram(&ctx, Side::Server, &d.payload), Verdict::No);
        assert!(!matches!(
            wireguard::probe_datagram(&ctx, Side::Server, &d.payload),
            Verdict::Yes { .. }
        ));
    }
}

#[test]
fn other_protocols_are_not_teamviewer() {
    let ctx = Ctx { client_port: 40000, server_port: 5938 };
    assert_eq!(teamviewer::probe_stream(&ctx, b"\x16\x03\x01", b""), Verdict::No);
    assert_eq!(teamviewer::probe_datagram(&ctx, Side::Client, b"\x00\x01\x02"), Verdict::No);
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(a in proptest::collection::vec(any::<u8>(), 0..64), b in proptest::collection::vec(any::<u8>(), 0..64)) {
        let ctx = Ctx { client_port: 1, server_port: 2 };
        let _ = teamviewer::probe_stream(&ctx, &a, &b);
        let _ = teamviewer::probe_datagram(&ctx, Side::Client, &a);
    }
}
