//! RDP on the shared capture (Zeek's rdp-proprietary-encryption): the
//! cookie, the negotiation, and the Client Core Data of standard security.

mod support;

use proptest::prelude::*;
use sekimori_proto::identify::Ctx;
use sekimori_proto::{App, Fact, FactKey, Subject, Verdict, rdp};
use support::{Stream, ctx, tcp_streams, yes};

fn streams() -> Vec<Stream> {
    tcp_streams("zeek_rdp_proprietary_encryption.pcap")
}

fn values(facts: &[Fact], key: FactKey) -> Vec<&str> {
    facts
        .iter()
        .filter(|f| f.subject == Subject::Client && f.key == key)
        .map(|f| f.value.as_str())
        .collect()
}

#[test]
fn first_connection_asks_for_tls_and_is_refused() {
    let s = &streams()[0];
    let (cr, _) = rdp::parse_connection_request(&s.to_server).unwrap().unwrap();
    assert_eq!(cr.cookie.as_deref(), Some("FTBCO\\A70"));
    assert_eq!(cr.requested_protocols, Some(rdp::protocol::SSL));
    // Failure code 2: SSL_NOT_ALLOWED_BY_SERVER.
    assert_eq!(
        rdp::parse_connection_confirm(&s.to_client),
        Ok(Some(rdp::ConnectionConfirm::Failure(2)))
    );
    let (app, facts, more) = yes(rdp::probe_stream(&ctx(s), &s.to_server, &s.to_client));
    assert_eq!((app, more), (App::Rdp, false));
    assert_eq!(values(&facts, FactKey::RdpCookie), ["FTBCO\\A70"]);
}

#[test]
fn second_connection_shows_the_client_core_data() {
    let s = &streams()[1];
    let (cr, _) = rdp::parse_connection_request(&s.to_server).unwrap().unwrap();
    assert_eq!(cr.requested_protocols, Some(rdp::protocol::RDP));
    assert_eq!(
        rdp::parse_connection_confirm(&s.to_client),
        Ok(Some(rdp::ConnectionConfirm::Selected(0)))
    );
    let (app, facts, more) = yes(rdp::probe_stream(&ctx(s), &s.to_server, &s.to_client));
    assert_eq!((app, more), (App::Rdp, false));
    assert_eq!(values(&facts, FactKey::RdpCookie), ["FTBCO\\A70"]);
    assert_eq!(values(&facts, FactKey::RdpClientName), ["FROG-POND"]);
    assert_eq!(values(&facts, FactKey::Hostname), ["FROG-POND"]);
    assert_eq!(values(&facts, FactKey::RdpClientBuild), ["6000"]);
    // tshark: keyboardLayout 1033, desktop 1152x864, RDP 4.8 (0x00080004).
    let mcs = &s.to_server[47..47 + 428];
    let core = rdp::find_client_core(&mcs[4..]).unwrap();
    assert_eq!(
        (core.keyboard_layout, core.desktop_width, core.desktop_height, core.version),
        (1033, 1152, 864, 0x0008_0004)
    );
}

/// Every prefix of the client's bytes up to the end of the MCS Connect
/// Initial: `NeedMore` until the Connection Request is whole, then `Yes`
/// with the cookie, and the client name exactly once the MCS packet is.
#[test]
fn every_prefix_of_the_client_side() {
    let s = &streams()[1];
    let end = 47 + 428;
    for n in 0..=end {
        let v = rdp::probe_stream(&ctx(s), &s.to_server[..n], b"");
        if n < 47 {
            assert_eq!(v, Verdict::NeedMore, "prefix {n}");
            continue;
        }
        let (_, facts, more) = yes(v);
        assert_eq!(values(&facts, FactKey::RdpCookie), ["FTBCO\\A70"]);
        assert_eq!(
            values(&facts, FactKey::RdpClientName).len(),
            usize::from(n == end),
            "prefix {n}"
        );
        assert_eq!(more, n < end);
    }
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..500), server in proptest::collection::vec(any::<u8>(), 0..40)) {
        let c = Ctx { client_port: 1, server_port: 3389 };
        let _ = rdp::probe_stream(&c, &body, &server);
        // A valid Connection Request followed by arbitrary TPKTs.
        let mut client = b"\x03\x00\x00\x2f\x2a\xe0\x00\x00\x00\x00\x00Cookie: mstshash=FTBCO\\A70\r\n\x01\x00\x08\x00\x00\x00\x00\x00".to_vec();
        client.extend_from_slice(&[3, 0, 0, (body.len() + 7).min(255) as u8, 2, 0xf0, 0x80, 0x7f, 0x65]);
        client.extend_from_slice(&body);
        let _ = rdp::probe_stream(&c, &client, &server);
        let _ = rdp::find_client_core(&body);
        let mut mcs = vec![2, 0xf0, 0x80, 0x7f, 0x65, 0x01, 0xc0, 0xd8, 0x00, 0x04, 0x00, 0x08, 0x00];
        mcs.extend_from_slice(&body);
        let _ = rdp::find_client_core(&mcs);
    }
}
