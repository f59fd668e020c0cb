//! SSH on the shared capture: SSH 2 identifications with HASSH/HASSHServer
//! (cross-checked with tshark's `ssh.kex.hassh`/`ssh.kex.hasshserver`), and
//! SSH 1.5.

mod support;

use proptest::prelude::*;
use sekimori_proto::identify::Ctx;
use sekimori_proto::{App, FactKey, Subject, Verdict, ssh};
use support::{Stream, ctx, tcp_streams, values, yes};

const CAPTURE: &str = "zeek_ssh1_ssh2_fingerprints.pcap";

fn stream(port: u16) -> Stream {
    tcp_streams(CAPTURE).into_iter().find(|s| s.server.1 == port).expect("stream")
}

#[test]
fn ssh2_identifications_and_hassh() {
    let s = stream(22);
    let (app, facts, more) = yes(ssh::probe_stream(&ctx(&s), &s.to_server, &s.to_client));
    assert_eq!((app, more), (App::Ssh, false));
    let line = "SSH-2.0-OpenSSH_8.2p1 Ubuntu-4ubuntu0.1";
    assert_eq!(values(&facts, Subject::Client, FactKey::SshClient), [line]);
    assert_eq!(values(&facts, Subject::Server, FactKey::SshServer), [line]);
    for who in [Subject::Client, Subject::Server] {
        assert_eq!(values(&facts, who, FactKey::Product), ["OpenSSH"]);
        assert_eq!(values(&facts, who, FactKey::Version), ["8.2p1"]);
        assert_eq!(values(&facts, who, FactKey::Software), ["OpenSSH_8.2p1 Ubuntu-4ubuntu0.1"]);
    }
    // tshark 4.0: ssh.kex.hassh / ssh.kex.hasshserver on frames 8 and 10.
    assert_eq!(
        values(&facts, Subject::Client, FactKey::Hassh),
        ["ae8bd7dd09970555aa4c6ed22adbbf56"]
    );
    assert_eq!(
        values(&facts, Subject::Server, FactKey::HasshServer),
        ["3ccd1778a76049721c71ad7d2bf62bbc"]
    );
}

#[test]
fn ssh1_identifications() {
    let s = stream(2222);
    let (app, facts, more) = yes(ssh::probe_stream(&ctx(&s), &s.to_server, &s.to_client));
    assert_eq!((app, more), (App::Ssh, false));
    assert_eq!(values(&facts, Subject::Server, FactKey::SshServer), ["SSH-1.5-OpenSSH_6.6"]);
    assert_eq!(values(&facts, Subject::Client, FactKey::SshClient), ["SSH-1.5-OpenSSH_6.6"]);
    assert_eq!(values(&facts, Subject::Server, FactKey::Version), ["6.6"]);
    assert!(values(&facts, Subject::Server, FactKey::HasshServer).is_empty());
}

/// Every prefix of the server's side (banner, then KEXINIT), with the
/// client silent: `NeedMore` until the banner line is whole, then `Yes`
/// with `more` until the KEXINIT is in; the HASSHServer appears exactly
/// when the KEXINIT packet is complete.
#[test]
fn every_prefix_of_the_server_side() {
    let s = stream(22);
    let c = ctx(&s);
    let banner_end = s.to_client.iter().position(|&b| b == b'\n').unwrap() + 1;
    let kex_len =
        u32::from_be_bytes(s.to_client[banner_end..banner_end + 4].try_into().unwrap()) as usize;
    let kex_end = banner_end + 4 + kex_len;
    for n in 0..=kex_end {
        let v = ssh::probe_stream(&c, b"", &s.to_client[..n]);
        if n < banner_end {
            assert_eq!(v, Verdict::NeedMore, "prefix {n}");
            continue;
        }
        let (_, facts, more) = yes(v);
        assert!(more, "the client has not spoken yet");
        assert_eq!(
            values(&facts, Subject::Server, FactKey::HasshServer).len(),
            usize::from(n == kex_end),
            "prefix {n}"
        );
    }
}

#[test]
fn not_ssh() {
    let c = Ctx { client_port: 40000, server_port: 22 };
    assert_eq!(ssh::probe_stream(&c, b"\x16\x03\x01", b""), Verdict::No);
    assert_eq!(ssh::probe_stream(&c, b"", b"SSH-2.0\r\n"), Verdict::No);
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(client in proptest::collection::vec(any::<u8>(), 0..400),
                                   server in proptest::collection::vec(any::<u8>(), 0..400)) {
        let c = Ctx { client_port: 1, server_port: 22 };
        let _ = ssh::probe_stream(&c, &client, &server);
        let mut banner = b"SSH-2.0-x\r\n".to_vec();
        banner.extend_from_slice(&server);
        let _ = ssh::probe_stream(&c, &banner, &banner);
        let mut kex = b"SSH-2.0-x\r\n\x00\x00\x01\x00\x04\x14".to_vec();
        kex.extend_from_slice(&client);
        let _ = ssh::probe_stream(&c, &kex, &kex);
    }
}
