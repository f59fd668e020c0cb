//! SMB2 with NTLMSSP on the shared capture (Zeek's smb2.pcap): the dialect,
//! the server's names from the CHALLENGE, the client's from the
//! AUTHENTICATE (cross-checked with tshark's ntlmssp fields).

mod support;

use proptest::prelude::*;
use sekimori_proto::identify::Ctx;
use sekimori_proto::{App, FactKey, Subject, Verdict, smb};
use support::{Stream, ctx, tcp_streams, values, yes};

fn stream() -> Stream {
    tcp_streams("zeek_smb2.pcap").remove(0)
}

#[test]
fn dialect_and_ntlm_names() {
    let s = stream();
    // As the sensor would: the first few KiB of each side.
    let (c, sv) =
        (&s.to_server[..s.to_server.len().min(4096)], &s.to_client[..s.to_client.len().min(4096)]);
    let (app, facts, more) = yes(smb::probe_stream(&ctx(&s), c, sv));
    assert_eq!((app, more), (App::Smb, false));
    assert_eq!(values(&facts, Subject::Server, FactKey::SmbDialect), ["SMB 2.0.2"]);
    assert_eq!(values(&facts, Subject::Server, FactKey::NetbiosName), ["SERVER002"]);
    assert_eq!(values(&facts, Subject::Server, FactKey::DnsName), ["SERVER002.contoso.com"]);
    assert_eq!(values(&facts, Subject::Server, FactKey::Domain), ["CONTOSO", "contoso.com"]);
    assert_eq!(values(&facts, Subject::Server, FactKey::OsVersion), ["6.0.6001"]);
    assert_eq!(values(&facts, Subject::Client, FactKey::NtlmHost), ["SERVER01"]);
    assert_eq!(values(&facts, Subject::Client, FactKey::Hostname), ["SERVER01"]);
    assert_eq!(values(&facts, Subject::Client, FactKey::NtlmDomain), ["CONTOSO"]);
    assert_eq!(values(&facts, Subject::Client, FactKey::NtlmUser), ["Administrator"]);
}

/// Every prefix of the client's side up to its AUTHENTICATE: `NeedMore`
/// until the first NBSS frame (an SMB1 NEGOTIATE) is whole, then `Yes`
/// with `more` until the AUTHENTICATE frame is complete.
#[test]
fn every_prefix_of_the_client_side() {
    let s = stream();
    let (frames, _) = smb::frames(&s.to_server, 3);
    let first = 4 + frames[0].body.len();
    let auth_end: usize = frames.iter().map(|f| 4 + f.body.len()).sum();
    for n in 0..=auth_end {
        let v = smb::probe_stream(&ctx(&s), &s.to_server[..n], b"");
        if n < first {
            assert_eq!(v, Verdict::NeedMore, "prefix {n}");
            continue;
        }
        let (_, facts, more) = yes(v);
        assert_eq!(more, n < auth_end, "prefix {n}");
        assert_eq!(
            values(&facts, Subject::Client, FactKey::NtlmUser).len(),
            usize::from(n == auth_end)
        );
    }
}

#[test]
fn netbios_session_request_names() {
    // Session request from FRED to the file server "SERVER" (RFC 1002 4.3.2).
    let mut body = vec![0x20];
    body.extend_from_slice(b"FDEFFCFGEFFCCACACACACACACACACACA");
    body.push(0);
    body.push(0x20);
    body.extend_from_slice(b"EGFCEFEECACACACACACACACACACACAAA");
    body.push(0);
    assert_eq!(smb::session_request_names(&body), Some(("SERVER".to_owned(), "FRED".to_owned())));
    let mut client = vec![0x81, 0, 0, body.len() as u8];
    client.extend_from_slice(&body);
    let (app, facts, more) =
        yes(smb::probe_stream(&Ctx { client_port: 1025, server_port: 139 }, &client, b""));
    assert_eq!((app, more), (App::Smb, true));
    assert_eq!(values(&facts, Subject::Client, FactKey::NetbiosName), ["FRED"]);
    assert_eq!(values(&facts, Subject::Server, FactKey::NetbiosName), ["SERVER"]);
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..400), v2 in any::<bool>()) {
        let c = Ctx { client_port: 1, server_port: 445 };
        let _ = smb::probe_stream(&c, &body, &body);
        let mut msg = vec![0, 0, 0, 0];
        msg[2] = ((body.len() + 4) >> 8) as u8;
        msg[3] = (body.len() + 4) as u8;
        msg.extend_from_slice(if v2 { b"\xfeSMB" } else { b"\xffSMB" });
        msg.extend_from_slice(&body);
        let _ = smb::probe_stream(&c, &msg, &msg);
        let mut ntlm = b"NTLMSSP\0".to_vec();
        ntlm.push(body.first().copied().unwrap_or(2) % 4);
        ntlm.extend_from_slice(&[0, 0, 0]);
        ntlm.extend_from_slice(&body);
        let _ = smb::ntlm::parse(&ntlm);
    }
}
