//! OpenVPN on the shared capture: UDP without HMAC (1194, 443), with
//! tls-auth HMAC-SHA1 (13680), with tls-crypt (1234, NordVPN-style), and TCP
//! (1194, 443).

mod support;

use proptest::prelude::*;
use sekimori_proto::identify::{Ctx, Side};
use sekimori_proto::{App, FactKey, Verdict, openvpn};
use support::{Segment, Stream, tcp_streams, udp_datagrams};

const CAPTURE: &str = "ndpi_openvpn.pcap";

/// The UDP flows, each as its datagrams in order (first sender = client).
fn udp_flows() -> Vec<Vec<Segment>> {
    let mut flows: Vec<Vec<Segment>> = Vec::new();
    for d in udp_datagrams(CAPTURE) {
        match flows.iter_mut().find(|f| {
            (f[0].src == d.src && f[0].dst == d.dst) || (f[0].src == d.dst && f[0].dst == d.src)
        }) {
            Some(f) => f.push(d),
            None => flows.push(vec![d]),
        }
    }
    flows
}

/// Runs the probe as the dispatcher would: until the first `Yes` or `No`.
fn identify(flow: &[Segment]) -> (Verdict, usize) {
    let first = &flow[0];
    let ctx = Ctx { client_port: first.src.1, server_port: first.dst.1 };
    for (i, d) in flow.iter().enumerate() {
        let side = if d.src == first.src { Side::Client } else { Side::Server };
        match openvpn::probe_datagram(&ctx, side, &d.payload) {
            Verdict::NeedMore => continue,
            v => return (v, i),
        }
    }
    (Verdict::NeedMore, flow.len())
}

#[test]
fn every_udp_flow_is_openvpn() {
    let flows = udp_flows();
    let mut ports: Vec<u16> = flows.iter().map(|f| f[0].src.1.min(f[0].dst.1)).collect();
    ports.sort_unstable();
    // Two halves of one NATed flow (443/60201) were captured apart; one of
    // them shows only the server's packets.
    assert_eq!(ports, [443, 443, 443, 1194, 1234, 13680, 13680]);
    for f in &flows {
        let (v, at) = identify(f);
        let Verdict::Yes { app, facts, more } = v else { panic!("{:?}: {v:?}", f[0].dst) };
        assert_eq!((app, more), (App::OpenVpn, false));
        {
            assert_eq!(at, 0, "{:?}", f[0].dst);
            let opcode =
                facts.iter().find(|f| f.key == FactKey::OpenVpnOpcode).map(|f| f.value.as_str());
            let server_half = f[0].payload[0] >> 3 == openvpn::P_CONTROL_HARD_RESET_SERVER_V2;
            assert_eq!(opcode, (!server_half).then_some("P_CONTROL_HARD_RESET_CLIENT_V2"));
        }
    }
}

#[test]
fn hmac_size_and_session_echo() {
    let flows = udp_flows();
    // tls-auth with HMAC-SHA1: 42-byte client reset.
    let f = flows.iter().find(|f| f[0].dst.1 == 13680).unwrap();
    let c = openvpn::parse_reset(&f[0].payload).unwrap();
    assert_eq!(c.hmac_len, 20);
    assert_eq!(c.session_id, [0xb0, 0x2c, 0xcf, 0xf1, 0xb5, 0xf0, 0x17, 0x4f]);
    let s = openvpn::parse_reset(&f[1].payload).unwrap();
    assert_eq!(s.opcode, openvpn::P_CONTROL_HARD_RESET_SERVER_V2);
    assert_eq!(s.remote_session_id, Some(c.session_id));
    // tls-auth with HMAC-SHA512 (the NordVPN-style endpoint on 1234).
    let f = flows.iter().find(|f| f[0].dst.1 == 1234).unwrap();
    assert_eq!(openvpn::parse_reset(&f[0].payload).unwrap().hmac_len, 64);
    assert_eq!(openvpn::parse_reset(&f[1].payload).unwrap().hmac_len, 64);
    // No HMAC: 14 bytes.
    let f = flows.iter().find(|f| f[0].dst.1 == 1194).unwrap();
    assert_eq!(openvpn::parse_reset(&f[0].payload).unwrap().hmac_len, 0);
    // A server reset that echoes another session is not accepted.
    let mut forged = f[1].payload.clone();
    forged[15] ^= 0xff;
    let ctx = Ctx { client_port: 51146, server_port: 1194 };
    assert!(
        openvpn::parse_reset(&forged).is_none()
            || matches!(openvpn::probe_datagram(&ctx, Side::Server, &forged), Verdict::Yes { .. })
    );
}

/// tls-crypt (opaque after the replay header): the client's reset alone
/// is not enough, the server's reset completes the pair.
#[test]
fn tls_crypt_pair() {
    let ctx = Ctx { client_port: 40000, server_port: 1194 };
    let mut client = vec![0x38];
    client.extend((1..=60u8).map(|i| i.wrapping_mul(37)));
    assert!(openvpn::parse_reset(&client).is_none());
    assert_eq!(openvpn::probe_datagram(&ctx, Side::Client, &client), Verdict::NeedMore);
    let mut server = client.clone();
    server[0] = 0x40;
    assert!(matches!(
        openvpn::probe_datagram(&ctx, Side::Server, &server),
        Verdict::Yes { app: App::OpenVpn, .. }
    ));
    assert_eq!(openvpn::probe_datagram(&ctx, Side::Server, &server[..20]), Verdict::No);
}

fn tcp(port: u16) -> Stream {
    tcp_streams(CAPTURE)
        .into_iter()
        .find(|s| s.server.1 == port && !s.to_server.is_empty())
        .unwrap()
}

#[test]
fn tcp_flows_are_openvpn() {
    for port in [1194, 443] {
        let s = tcp(port);
        let ctx = Ctx { client_port: s.client.1, server_port: s.server.1 };
        let v = openvpn::probe_stream(&ctx, &s.to_server, &s.to_client);
        assert!(matches!(v, Verdict::Yes { app: App::OpenVpn, more: false, .. }), "{port}: {v:?}");
    }
}

/// Every prefix of the client's first TCP frame: `NeedMore` until whole,
/// then `Yes`.
#[test]
fn every_prefix_of_a_tcp_reset() {
    let s = tcp(1194);
    let ctx = Ctx { client_port: s.client.1, server_port: s.server.1 };
    let len = 2 + usize::from(u16::from_be_bytes([s.to_server[0], s.to_server[1]]));
    for n in 0..len {
        assert_eq!(
            openvpn::probe_stream(&ctx, &s.to_server[..n], b""),
            Verdict::NeedMore,
            "prefix {n}"
        );
    }
    assert!(matches!(openvpn::probe_stream(&ctx, &s.to_server[..len], b""), Verdict::Yes { .. }));
}

#[test]
fn tls_and_http_are_not_openvpn() {
    let ctx = Ctx { client_port: 40000, server_port: 443 };
    assert_eq!(openvpn::probe_stream(&ctx, b"\x16\x03\x01\x02\x00\x01", b""), Verdict::No);
    assert_eq!(openvpn::probe_stream(&ctx, b"GET / HTTP/1.1\r\n", b""), Verdict::No);
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(a in proptest::collection::vec(any::<u8>(), 0..200), b in proptest::collection::vec(any::<u8>(), 0..200), op in 0u8..12) {
        let ctx = Ctx { client_port: 1, server_port: 1194 };
        let mut p = a.clone();
        if let Some(x) = p.first_mut() { *x = op << 3; }
        let _ = openvpn::probe_datagram(&ctx, Side::Client, &p);
        let _ = openvpn::probe_datagram(&ctx, Side::Server, &p);
        let _ = openvpn::probe_stream(&ctx, &a, &b);
        let mut framed = (p.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(&p);
        let _ = openvpn::probe_stream(&ctx, &framed, &framed);
    }
}
