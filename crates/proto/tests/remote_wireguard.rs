//! WireGuard on the shared capture: a handshake then transport data, and a
//! flow seen only from its transport data.

mod support;

use proptest::prelude::*;
use sekimori_proto::identify::{Ctx, Side};
use sekimori_proto::{App, Verdict, wireguard};
use support::udp_datagrams;

#[test]
fn every_datagram_is_wireguard() {
    let dgrams = udp_datagrams("ndpi_wireguard.pcap");
    assert_eq!(dgrams.len(), 52);
    let kinds: Vec<_> = dgrams[..3].iter().map(|d| wireguard::parse(&d.payload)).collect();
    assert!(matches!(kinds[0], Some(wireguard::Message::Initiation { .. })));
    let Some(wireguard::Message::Initiation { sender }) = kinds[0] else { unreachable!() };
    // The response names the initiation's sender as its receiver.
    assert!(
        matches!(kinds[1], Some(wireguard::Message::Response { receiver, .. }) if receiver == sender)
    );
    assert!(matches!(kinds[2], Some(wireguard::Message::Transport { .. })));
    for d in &dgrams {
        let ctx = Ctx { client_port: d.src.1, server_port: d.dst.1 };
        assert_eq!(
            wireguard::probe_datagram(&ctx, Side::Client, &d.payload),
            Verdict::bare(App::WireGuard)
        );
        // No port hint needed: every counter here is young.
        let elsewhere = Ctx { client_port: 40000, server_port: 40001 };
        assert_eq!(
            wireguard::probe_datagram(&elsewhere, Side::Client, &d.payload),
            Verdict::bare(App::WireGuard)
        );
    }
}

/// Every strict prefix of the initiation is refused (a datagram is whole).
#[test]
fn every_prefix_of_an_initiation() {
    let d = &udp_datagrams("ndpi_wireguard.pcap")[0];
    let ctx = Ctx { client_port: 43462, server_port: 51820 };
    for n in 0..d.payload.len() {
        let v = wireguard::probe_datagram(&ctx, Side::Client, &d.payload[..n]);
        assert_eq!(v, Verdict::No, "prefix {n}");
    }
}

#[test]
fn old_counters_need_the_port_hint() {
    let mut data = vec![4, 0, 0, 0, 1, 2, 3, 4, 0, 0, 0, 0, 0, 0, 0, 1];
    data.extend_from_slice(&[0xaa; 32]);
    let hinted = Ctx { client_port: 51820, server_port: 5000 };
    let bare = Ctx { client_port: 40000, server_port: 5000 };
    assert_eq!(
        wireguard::probe_datagram(&hinted, Side::Client, &data),
        Verdict::bare(App::WireGuard)
    );
    assert_eq!(wireguard::probe_datagram(&bare, Side::Client, &data), Verdict::NeedMore);
    assert_eq!(wireguard::probe_datagram(&bare, Side::Client, b"\x16\xfe\xff"), Verdict::No);
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..200), ty in 0u8..6) {
        let ctx = Ctx { client_port: 1, server_port: 51820 };
        let _ = wireguard::probe_datagram(&ctx, Side::Client, &b);
        let mut m = vec![ty, 0, 0, 0];
        m.extend_from_slice(&b);
        let _ = wireguard::probe_datagram(&ctx, Side::Server, &m);
    }
}
