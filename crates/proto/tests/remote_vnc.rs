//! VNC on the shared capture: RealVNC's `RFB 004.001` from both sides.

mod support;

use proptest::prelude::*;
use sekimori_proto::identify::Ctx;
use sekimori_proto::{App, FactKey, Subject, Verdict, vnc};
use support::{Stream, tcp_streams, values};

fn streams() -> Vec<Stream> {
    tcp_streams("ndpi_vnc.pcap").into_iter().filter(|s| !s.to_client.is_empty()).collect()
}

#[test]
fn both_sessions_are_vnc_with_versions() {
    let all = streams();
    assert_eq!(all.len(), 2);
    for s in &all {
        let ctx = Ctx { client_port: s.client.1, server_port: s.server.1 };
        assert_eq!(s.server.1, 6900);
        let Verdict::Yes { app, facts, more } = vnc::probe_stream(&ctx, &s.to_server, &s.to_client)
        else {
            panic!()
        };
        assert_eq!((app, more), (App::Vnc, false));
        for who in [Subject::Server, Subject::Client] {
            assert_eq!(values(&facts, who, FactKey::VncVersion), ["004.001"]);
            assert_eq!(values(&facts, who, FactKey::Product), ["VNC"]);
            assert_eq!(values(&facts, who, FactKey::Vendor), ["RealVNC"]);
        }
    }
}

/// Every prefix of the server's version, client silent: `NeedMore`, then
/// `Yes` with `more`; then every prefix of the client's answer.
#[test]
fn every_prefix_of_the_handshake() {
    let s = &streams()[0];
    let ctx = Ctx { client_port: s.client.1, server_port: s.server.1 };
    for n in 0..vnc::VERSION_LEN {
        assert_eq!(
            vnc::probe_stream(&ctx, b"", &s.to_client[..n]),
            Verdict::NeedMore,
            "prefix {n}"
        );
    }
    let server = &s.to_client[..vnc::VERSION_LEN];
    for n in 0..=vnc::VERSION_LEN {
        let Verdict::Yes { facts, more, .. } = vnc::probe_stream(&ctx, &s.to_server[..n], server)
        else {
            panic!("{n}")
        };
        assert_eq!(more, n < vnc::VERSION_LEN);
        assert_eq!(
            values(&facts, Subject::Client, FactKey::VncVersion).len(),
            usize::from(n == vnc::VERSION_LEN)
        );
    }
}

#[test]
fn client_first_or_other_banners_are_not_vnc() {
    let ctx = Ctx { client_port: 40000, server_port: 5900 };
    assert_eq!(vnc::probe_stream(&ctx, b"RFB 003.008\n", b""), Verdict::No);
    assert_eq!(vnc::probe_stream(&ctx, b"", b"SSH-2.0-OpenSSH\r\n"), Verdict::No);
    assert_eq!(vnc::probe_stream(&ctx, b"GET", b"RFB 003.008\n"), Verdict::No);
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(a in proptest::collection::vec(any::<u8>(), 0..40), b in proptest::collection::vec(any::<u8>(), 0..40)) {
        let ctx = Ctx { client_port: 1, server_port: 5900 };
        let _ = vnc::probe_stream(&ctx, &a, &b);
        let mut s = b"RFB 003.".to_vec();
        s.extend_from_slice(&b);
        let _ = vnc::probe_stream(&ctx, &a, &s);
    }
}
