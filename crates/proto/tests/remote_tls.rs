//! TLS/DTLS on the shared captures: JA4/JA4S, SNI, ALPN, certificates,
//! FortiClient SSL-VPN and AnyConnect.

mod support;

use proptest::prelude::*;
use sekimori_proto::identify::{Ctx, Side};
use sekimori_proto::{App, FactKey, Subject, Verdict, tls};
use support::{Stream, ctx, tcp_streams, udp_datagrams, values, yes};

fn first_stream(name: &str, server_port: u16) -> Stream {
    tcp_streams(name)
        .into_iter()
        .find(|s| s.server.1 == server_port && !s.to_server.is_empty())
        .expect("stream")
}

/// suricata-verify `ja4-tls`: the JA4 its test expects, and the JA4S of
/// FoxIO's reference output in that test's README.
#[test]
fn sv_ja4_tls_matches_suricata_and_foxio() {
    let s = first_stream("sv_ja4_tls.pcap", 443);
    let (app, facts, more) = yes(tls::probe_stream(&ctx(&s), &s.to_server, &s.to_client));
    assert_eq!(app, App::Tls);
    assert!(!more, "ServerHelloDone seen");
    assert_eq!(
        values(&facts, Subject::Client, FactKey::Ja4),
        ["t12i1810s1_27d4652c4487_06a4338d0495"]
    );
    assert_eq!(values(&facts, Subject::Server, FactKey::Ja4s), ["t120300_c02f_bec8bdbaef8a"]);
    assert_eq!(values(&facts, Subject::Client, FactKey::TlsAlpn), ["spdy/3.1", "http/1.1"]);
    assert_eq!(values(&facts, Subject::Server, FactKey::TlsVersion), ["TLS 1.2"]);
    assert!(values(&facts, Subject::Server, FactKey::TlsSni).is_empty());
    let dn = "C=FR, ST=IDF, L=Paris, O=Stamus, CN=SELKS";
    assert_eq!(values(&facts, Subject::Server, FactKey::CertSubject), [dn]);
    assert_eq!(values(&facts, Subject::Server, FactKey::CertIssuer), [dn]);
    assert_eq!(
        values(&facts, Subject::Server, FactKey::Vendor),
        ["Stamus"],
        "self-signed: O= is the maker"
    );
}

#[test]
fn zeek_client_hello_sni_and_google_certificate() {
    let s = first_stream("zeek_tls_conn_with_extensions.pcap", 443);
    let (app, facts, more) = yes(tls::probe_stream(&ctx(&s), &s.to_server, &s.to_client));
    assert_eq!((app, more), (App::Tls, false));
    assert_eq!(values(&facts, Subject::Server, FactKey::TlsSni), ["ssl.gstatic.com"]);
    assert_eq!(values(&facts, Subject::Client, FactKey::TlsVersion), ["TLS 1.0"]);
    // 36 ciphers (one of them 0xfeff, not GREASE), 6 extensions, no ALPN
    // (13172 is NPN).
    assert_eq!(
        values(&facts, Subject::Client, FactKey::Ja4),
        ["t10d360600_b06c425f59b5_eb0e26099a3f"]
    );
    assert_eq!(values(&facts, Subject::Server, FactKey::Ja4s), ["t100500_c011_011fcc93990f"]);
    assert_eq!(
        values(&facts, Subject::Server, FactKey::CertSubject),
        ["C=US, ST=California, L=Mountain View, O=Google Inc, CN=*.gstatic.com"]
    );
    assert_eq!(
        values(&facts, Subject::Server, FactKey::CertIssuer),
        ["C=US, O=Google Inc, CN=Google Internet Authority"]
    );
}

#[test]
fn forticlient_is_forti_sslvpn_with_the_fortigate_serial() {
    let streams: Vec<Stream> =
        tcp_streams("ndpi_forticlient.pcap").into_iter().filter(|s| s.server.1 == 10443).collect();
    assert!(streams.len() >= 5);
    for s in &streams {
        let (app, facts, more) = yes(tls::probe_stream(&ctx(s), &s.to_server, &s.to_client));
        assert_eq!((app, more), (App::FortiSslVpn, false));
        assert_eq!(values(&facts, Subject::Server, FactKey::TlsSni), ["82.81.46.13"]);
        assert_eq!(values(&facts, Subject::Server, FactKey::Vendor), ["Fortinet"]);
        assert_eq!(values(&facts, Subject::Server, FactKey::Product), ["FortiGate"]);
        assert_eq!(values(&facts, Subject::Server, FactKey::Serial), ["FWF60E4Q16012050"]);
        assert_eq!(values(&facts, Subject::Server, FactKey::CertCommonName), ["FWF60E4Q16012050"]);
        assert_eq!(
            values(&facts, Subject::Server, FactKey::CertSubject),
            [
                "C=US, ST=California, L=Sunnyvale, O=Fortinet, OU=FortiGate, CN=FWF60E4Q16012050, Email=support@fortinet.com"
            ]
        );
    }
    let s = &streams[0];
    let (_, facts, _) = yes(tls::probe_stream(&ctx(s), &s.to_server, &s.to_client));
    assert_eq!(
        values(&facts, Subject::Client, FactKey::Ja4),
        ["t12d220700_0d4ca5d4ec72_3304d8368043"]
    );
    assert_eq!(values(&facts, Subject::Server, FactKey::Ja4s), ["t120200_c030_344b4dce5a52"]);
    // Before the certificate arrives the flow is plain TLS, still learning.
    let (app, _, more) = yes(tls::probe_stream(&ctx(s), &s.to_server, b""));
    assert_eq!((app, more), (App::Tls, true));
}

#[test]
fn anyconnect_dtls_uses_cisco_pre_standard_version() {
    let dgrams: Vec<_> = udp_datagrams("ndpi_anyconnect_vpn.pcap")
        .into_iter()
        .filter(|d| d.dst.1 == 443 || d.src.1 == 443)
        .collect();
    let first = &dgrams[0];
    let c = Ctx { client_port: first.src.1, server_port: first.dst.1 };
    let (app, facts, more) = yes(tls::probe_datagram(&c, Side::Client, &first.payload));
    assert_eq!((app, more), (App::AnyConnect, true));
    assert_eq!(
        values(&facts, Subject::Client, FactKey::TlsVersion),
        ["DTLS 0x0100 (Cisco pre-standard)"]
    );
    // One cipher (0x0039), no extensions.
    assert_eq!(
        values(&facts, Subject::Client, FactKey::Ja4),
        ["d00i010000_2cfe23c976cf_000000000000"]
    );
    // Every datagram of the flow is AnyConnect's DTLS, from either side.
    for d in &dgrams {
        let side = if d.src == first.src { Side::Client } else { Side::Server };
        assert!(matches!(
            tls::probe_datagram(&c, side, &d.payload),
            Verdict::Yes { app: App::AnyConnect, .. }
        ));
    }
    // And its TLS control channel carries the machine certificate.
    let s = first_stream("ndpi_anyconnect_vpn.pcap", 443);
    let s = if s.server.0.to_string() == "8.37.102.91" { s } else { panic!("{s:?}") };
    let (_, facts, _) = yes(tls::probe_stream(&ctx(&s), &s.to_server, &s.to_client));
    assert_eq!(
        values(&facts, Subject::Server, FactKey::CertSubject),
        ["C=US, ST=California, L=Carlsbad, O=Viasat Inc., CN=*.pandion.viasat.com"]
    );
}

#[test]
fn mutual_tls_client_certificate_is_about_the_client() {
    let s = tcp_streams("ndpi_anyconnect_vpn.pcap")
        .into_iter()
        .filter(|s| s.server.1 == 443)
        .find(|s| s.to_server.len() > 3000)
        .expect("a stream with a client certificate");
    let (_, facts, more) = yes(tls::probe_stream(&ctx(&s), &s.to_server, &s.to_client));
    assert!(!more);
    assert_eq!(
        values(&facts, Subject::Client, FactKey::CertSubject),
        [
            "DC=com, DC=viasat, DC=corp, DC=hq, OU=Workstations, OU=USA, OU=Carlsbad, OU=Macs, CN=lp-rkerur-osx"
        ]
    );
    assert_eq!(values(&facts, Subject::Client, FactKey::CertCommonName), ["lp-rkerur-osx"]);
}

/// Every prefix of the client's ClientHello: `NeedMore` until it is whole,
/// then the full answer; every prefix of the server's flight never loses
/// the client's facts.
#[test]
fn every_prefix_of_a_client_hello() {
    let s = first_stream("sv_ja4_tls.pcap", 443);
    let c = ctx(&s);
    let flight = tls::read_flight(&s.to_server).unwrap();
    let hello_len = 5 + 4 + flight.messages[0].body.len();
    for n in 0..hello_len {
        assert_eq!(tls::probe_stream(&c, &s.to_server[..n], b""), Verdict::NeedMore, "prefix {n}");
    }
    let (_, facts, more) = yes(tls::probe_stream(&c, &s.to_server[..hello_len], b""));
    assert!(more);
    assert_eq!(
        values(&facts, Subject::Client, FactKey::Ja4),
        ["t12i1810s1_27d4652c4487_06a4338d0495"]
    );
    for n in 0..s.to_client.len() {
        let (_, facts, _) = yes(tls::probe_stream(&c, &s.to_server, &s.to_client[..n]));
        assert_eq!(values(&facts, Subject::Client, FactKey::Ja4).len(), 1);
    }
}

/// A ClientHello split over several records (allowed by RFC 8446 5.1)
/// gives the same fingerprint.
#[test]
fn client_hello_split_across_records() {
    let s = first_stream("zeek_tls_conn_with_extensions.pcap", 443);
    let flight = tls::read_flight(&s.to_server).unwrap();
    let hs_len = 4 + flight.messages[0].body.len();
    let hs = &s.to_server[5..5 + hs_len];
    let mut split = Vec::new();
    for chunk in hs.chunks(50) {
        split.extend_from_slice(&[0x16, 0x03, 0x01]);
        split.extend_from_slice(&(chunk.len() as u16).to_be_bytes());
        split.extend_from_slice(chunk);
    }
    let (_, facts, _) = yes(tls::probe_stream(&ctx(&s), &split, b""));
    assert_eq!(
        values(&facts, Subject::Client, FactKey::Ja4),
        ["t10d360600_b06c425f59b5_eb0e26099a3f"]
    );
    assert_eq!(values(&facts, Subject::Server, FactKey::TlsSni), ["ssl.gstatic.com"]);
}

#[test]
fn http_is_not_tls() {
    let c = Ctx { client_port: 50000, server_port: 443 };
    assert_eq!(tls::probe_stream(&c, b"GET / HTTP/1.1\r\n", b""), Verdict::No);
    assert_eq!(tls::probe_datagram(&c, Side::Client, b"\x16\x03\x01\x00\x05hello"), Verdict::No);
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(client in proptest::collection::vec(any::<u8>(), 0..600),
                                   server in proptest::collection::vec(any::<u8>(), 0..600)) {
        let c = Ctx { client_port: 1, server_port: 443 };
        let _ = tls::probe_stream(&c, &client, &server);
        let _ = tls::probe_datagram(&c, Side::Client, &client);
        let _ = tls::probe_datagram(&c, Side::Server, &server);
        let _ = tls::read_flight(&client);
    }

    #[test]
    fn tls_shaped_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..400), ty in 0u8..4) {
        let mut client = vec![0x16, 0x03, 0x01];
        client.extend_from_slice(&((body.len() + 4) as u16).to_be_bytes());
        client.extend_from_slice(&[1, 0, (body.len() >> 8) as u8, body.len() as u8]);
        client.extend_from_slice(&body);
        let mut server = client.clone();
        server[5] = [2, 11, 13, 14][usize::from(ty)];
        let c = Ctx { client_port: 1, server_port: 10443 };
        let _ = tls::probe_stream(&c, &client, &server);
        let mut dtls = vec![0x16, 0x01, 0x00, 0, 0, 0, 0, 0, 0, 0, 0];
        dtls.extend_from_slice(&((body.len() + 12) as u16).to_be_bytes());
        dtls.extend_from_slice(&[1, 0, (body.len() >> 8) as u8, body.len() as u8, 0, 0, 0, 0, 0, 0, (body.len() >> 8) as u8, body.len() as u8]);
        dtls.extend_from_slice(&body);
        let _ = tls::probe_datagram(&c, Side::Client, &dtls);
    }
}

/// The 2012 Google certificate's CN is a TeletexString (tshark:
/// `teletexString: *.gstatic.com`), which x509-parser does not read as
/// text by itself.
#[test]
fn teletex_common_name_is_read() {
    let s = first_stream("zeek_tls_conn_with_extensions.pcap", 443);
    let (_, facts, _) = yes(tls::probe_stream(&ctx(&s), &s.to_server, &s.to_client));
    assert_eq!(values(&facts, Subject::Server, FactKey::CertCommonName), ["*.gstatic.com"]);
    assert_eq!(values(&facts, Subject::Server, FactKey::Vendor), ["Google Inc"]);
}
