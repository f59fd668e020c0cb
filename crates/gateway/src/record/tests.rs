//! The record layer against rustls itself (a peer that is plain rustls reads
//! what we seal and we read what it sends, key updates and tickets
//! included), and against hostile records.

use std::io::{Read, Write};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, Connection, ServerConfig, ServerConnection};

use super::*;

#[derive(Debug)]
struct AnyCert;

impl ServerCertVerifier for AnyCert {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::General("TLS 1.2".into()))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &crate::client::tls_provider().signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        crate::client::tls_provider().signature_verification_algorithms.supported_schemes()
    }
}

struct Pair {
    client: Connection,
    server: Connection,
    client_secrets: Arc<TrafficSecrets>,
    server_secrets: Arc<TrafficSecrets>,
}

/// A client and a server that finished their handshake in memory, with the
/// suite `suite` (the tunnel's provider's first suite when `None`).
fn pair(suite: Option<rustls::SupportedCipherSuite>) -> Pair {
    let mut provider = crate::client::tls_provider();
    if let Some(s) = suite {
        provider.cipher_suites = vec![s];
    }
    let provider = Arc::new(provider);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let server_secrets = TrafficSecrets::new();
    let mut sc = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
        )
        .unwrap();
    sc.enable_secret_extraction = true;
    sc.key_log = server_secrets.clone();
    let client_secrets = TrafficSecrets::new();
    let mut cc = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCert))
        .with_no_client_auth();
    cc.enable_secret_extraction = true;
    cc.key_log = client_secrets.clone();
    let mut client = Connection::Client(
        ClientConnection::new(Arc::new(cc), ServerName::try_from("localhost").unwrap()).unwrap(),
    );
    let mut server = Connection::Server(ServerConnection::new(Arc::new(sc)).unwrap());
    // Stops once both are done: the server's tickets are still to send.
    loop {
        pump(&mut client, &mut server);
        if !client.is_handshaking() && !server.is_handshaking() {
            break;
        }
        pump(&mut server, &mut client);
    }
    Pair { client, server, client_secrets, server_secrets }
}

/// What `conn` (handshaken, nothing buffered) hands over to us.
fn handed_over(conn: Connection, secrets: &TrafficSecrets, side: Side) -> (Sealer, Opener) {
    take_over(conn.dangerous_extract_secrets().unwrap(), secrets, side).unwrap()
}

/// Moves what `from` has to send into `to`.
fn pump(from: &mut Connection, to: &mut Connection) {
    let mut wire = Vec::new();
    while from.wants_write() {
        from.write_tls(&mut wire).unwrap();
    }
    feed(to, &wire);
}

/// Feeds `wire` to `to`; the plaintext it yields.
fn feed(to: &mut Connection, mut wire: &[u8]) -> Vec<u8> {
    let mut got = Vec::new();
    while !wire.is_empty() {
        to.read_tls(&mut wire).unwrap();
        to.process_new_packets().unwrap();
        got.extend(read_all(to));
    }
    got
}

fn drain(from: &mut Connection) -> Vec<u8> {
    let mut wire = Vec::new();
    while from.wants_write() {
        from.write_tls(&mut wire).unwrap();
    }
    wire
}

fn read_all(c: &mut Connection) -> Vec<u8> {
    let mut got = Vec::new();
    let _ = c.reader().read_to_end(&mut got);
    got
}

/// Opens every record of `wire`: the application data, and whether a
/// `close_notify` came.
fn open_all(o: &mut Opener, wire: &mut [u8]) -> (Vec<u8>, bool) {
    let (mut data, mut closed, mut at) = (Vec::new(), false, 0);
    while at < wire.len() {
        let (n, content) = o.open(&mut wire[at..], at).unwrap().expect("a whole record");
        match content {
            Content::Data(r) => data.extend_from_slice(&wire[at + r.start..at + r.end]),
            Content::Nothing => {}
            Content::Closed => closed = true,
        }
        at += n;
    }
    (data, closed)
}

fn bulk(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
}

#[test]
fn our_server_side_and_a_rustls_client_understand_each_other() {
    for suite in [
        rustls::crypto::aws_lc_rs::cipher_suite::TLS13_AES_128_GCM_SHA256,
        rustls::crypto::aws_lc_rs::cipher_suite::TLS13_AES_256_GCM_SHA384,
        rustls::crypto::aws_lc_rs::cipher_suite::TLS13_CHACHA20_POLY1305_SHA256,
    ] {
        let Pair { mut client, mut server, server_secrets, .. } = pair(Some(suite));
        // The server's tickets go out with rustls, before it lets go.
        pump(&mut server, &mut client);
        let (mut tx, mut rx) = handed_over(server, &server_secrets, Side::Server);

        client.writer().write_all(b"hello through rustls").unwrap();
        let (got, closed) = open_all(&mut rx, &mut drain(&mut client));
        assert_eq!(got, b"hello through rustls");
        assert!(!closed);

        let big = bulk(100_000);
        let mut out = Vec::new();
        tx.seal_copy(&mut out, &big).unwrap();
        assert_eq!(feed(&mut client, &out), big, "{suite:?}");

        // rustls updates its key: we follow.
        client.refresh_traffic_keys().unwrap();
        client.writer().write_all(b"after its update").unwrap();
        let (got, _) = open_all(&mut rx, &mut drain(&mut client));
        assert_eq!(got, b"after its update");

        // We update ours: rustls follows.
        let mut out = Vec::new();
        tx.key_update(&mut out).unwrap();
        tx.seal_copy(&mut out, b"after our update").unwrap();
        assert_eq!(feed(&mut client, &out), b"after our update");

        client.send_close_notify();
        let (got, closed) = open_all(&mut rx, &mut drain(&mut client));
        assert!(got.is_empty() && closed);
    }
}

#[test]
fn our_client_side_skips_tickets_and_reads_a_rustls_server() {
    let Pair { client, mut server, client_secrets, .. } = pair(None);
    // The client lets go as soon as its handshake is done; the server's
    // tickets come after, to us.
    let (mut tx, mut rx) = handed_over(client, &client_secrets, Side::Client);
    server.writer().write_all(b"reply").unwrap();
    let (got, _) = open_all(&mut rx, &mut drain(&mut server));
    assert_eq!(got, b"reply");

    let mut out = Vec::new();
    tx.seal_copy(&mut out, b"hello").unwrap();
    tx.append(&mut out, &CLOSE_NOTIFY_ALERT, ALERT).unwrap();
    let mut wire = &out[..];
    while !wire.is_empty() {
        server.read_tls(&mut wire).unwrap();
    }
    let state = server.process_new_packets().unwrap();
    assert!(state.peer_has_closed());
    assert_eq!(read_all(&mut server), b"hello");
}

#[test]
fn a_key_is_updated_before_its_confidentiality_limit() {
    let Pair { mut client, mut server, server_secrets, .. } = pair(None);
    pump(&mut server, &mut client);
    let (mut tx, _rx) = handed_over(server, &server_secrets, Side::Server);
    tx.keys.suite.limit = 3;
    let big = bulk(10 * MAX_PLAIN);
    let mut out = Vec::new();
    tx.seal_copy(&mut out, &big).unwrap();
    // Ten records, and a key update every two.
    assert!(tx.keys.seq < 3);
    assert_eq!(feed(&mut client, &out), big);
}

/// Both ends ours.
fn ours() -> (Sealer, Opener) {
    let Pair { client: mut c, mut server, client_secrets, server_secrets } = pair(None);
    pump(&mut server, &mut c);
    let (tx, _) = handed_over(c, &client_secrets, Side::Client);
    let (_, rx) = handed_over(server, &server_secrets, Side::Server);
    (tx, rx)
}

fn sealed(tx: &mut Sealer, plain: &[u8], typ: u8) -> Vec<u8> {
    let mut rec = vec![0u8; plain.len() + OVERHEAD];
    rec[HEADER..HEADER + plain.len()].copy_from_slice(plain);
    tx.seal(&mut rec, plain.len(), typ).unwrap();
    rec
}

#[test]
fn every_prefix_of_a_record_is_incomplete_and_the_whole_opens() {
    let (mut tx, mut rx) = ours();
    let rec = sealed(&mut tx, b"payload", APPLICATION_DATA);
    for n in 0..rec.len() {
        let mut prefix = rec[..n].to_vec();
        assert_eq!(rx.open(&mut prefix, 0).unwrap(), None, "prefix of {n}");
    }
    let mut whole = rec.clone();
    whole.extend_from_slice(b"next");
    let (n, content) = rx.open(&mut whole, 0).unwrap().unwrap();
    assert_eq!(n, rec.len());
    let Content::Data(r) = content else { panic!("{content:?}") };
    assert_eq!(&whole[r], b"payload");
}

#[test]
fn hostile_records_are_refused_and_named() {
    let (mut tx, mut rx) = ours();
    // A flipped bit anywhere after the header.
    let mut rec = sealed(&mut tx, b"payload", APPLICATION_DATA);
    rec[HEADER + 2] ^= 1;
    assert_eq!(rx.open(&mut rec, 40), Err(RecordError::Decrypt { offset: 40, seq: 0 }));
    // Headers.
    let mut rec = sealed(&mut tx, b"x", APPLICATION_DATA);
    rec[0] = 22;
    assert_eq!(rx.open(&mut rec, 0), Err(RecordError::OuterType { offset: 0, got: 22 }));
    rec[0] = 23;
    rec[2] = 1;
    assert_eq!(rx.open(&mut rec, 0), Err(RecordError::Version { offset: 0, got: 0x0301 }));
    for len in [0u16, 16, (MAX_CIPHERTEXT + 1) as u16] {
        let [a, b] = len.to_be_bytes();
        let mut h = vec![23, 3, 3, a, b];
        assert_eq!(rx.open(&mut h, 0), Err(RecordError::Length { offset: 0, len: len.into() }));
    }
}

#[test]
fn inner_content_is_checked() {
    // Each case on a fresh pair: a refused record leaves the sequence where
    // the tunnel closes anyway.
    let (mut tx, mut rx) = ours();
    let mut rec = sealed(&mut tx, b"", 0);
    assert_eq!(rx.open(&mut rec, 0), Err(RecordError::NoContentType { offset: 0 }));

    let (mut tx, mut rx) = ours();
    let mut rec = sealed(&mut tx, b"x", 99);
    assert_eq!(rx.open(&mut rec, 0), Err(RecordError::InnerType { offset: 0, got: 99 }));

    // More content than a record may hold, sealed by hand.
    let (mut tx, mut rx) = ours();
    let mut rec = vec![0u8; MAX_PLAIN + 1 + OVERHEAD];
    tx.seal(&mut rec, MAX_PLAIN + 1, APPLICATION_DATA).unwrap_err();
    let (big, len) = (MAX_PLAIN + 1, MAX_PLAIN + 2 + TAG);
    rec[HEADER..HEADER + big].fill(7);
    rec[HEADER + big] = APPLICATION_DATA;
    let header = [23, 3, 3, (len >> 8) as u8, len as u8];
    rec[..HEADER].copy_from_slice(&header);
    let tag = tx
        .keys
        .key
        .seal_in_place_separate_tag(
            tx.keys.nonce(),
            Aad::from(header),
            &mut rec[HEADER..HEADER + big + 1],
        )
        .unwrap();
    rec[HEADER + big + 1..].copy_from_slice(tag.as_ref());
    assert_eq!(rx.open(&mut rec, 0), Err(RecordError::Overflow { offset: 0, len: big + 1 }));

    let (mut tx, mut rx) = ours();
    let mut rec = sealed(&mut tx, &[1, 40], ALERT);
    assert_eq!(rx.open(&mut rec, 0), Err(RecordError::Alert(40)));

    // A ticket sent to the server, a Finished after the handshake, a
    // truncated message.
    for (msg, want) in [
        (vec![NEW_SESSION_TICKET, 0, 0, 0], RecordError::Handshake { offset: 0, kind: 4 }),
        (vec![20, 0, 0, 1, 0], RecordError::Handshake { offset: 0, kind: 20 }),
        (
            vec![KEY_UPDATE, 0, 0, 2, 0],
            RecordError::Malformed { offset: 0, what: "handshake message" },
        ),
        (
            vec![KEY_UPDATE, 0, 0, 1, 2],
            RecordError::Malformed { offset: 0, what: "handshake message" },
        ),
    ] {
        let (mut tx, mut rx) = ours();
        let mut rec = sealed(&mut tx, &msg, HANDSHAKE);
        assert_eq!(rx.open(&mut rec, 0), Err(want), "{msg:?}");
    }
}

#[test]
fn a_requested_key_update_is_followed_and_noted() {
    let (mut tx, mut rx) = ours();
    let mut rec = sealed(&mut tx, &[KEY_UPDATE, 0, 0, 1, 1], HANDSHAKE);
    tx.keys = tx.keys.next().unwrap();
    assert_eq!(rx.open(&mut rec, 0).unwrap().map(|(_, c)| c), Some(Content::Nothing));
    assert!(rx.update_requested);
    let mut rec = sealed(&mut tx, b"new key", APPLICATION_DATA);
    assert!(matches!(rx.open(&mut rec, 0).unwrap(), Some((_, Content::Data(_)))));
}

#[test]
fn a_secret_that_does_not_match_rustls_is_refused() {
    let Pair { mut client, mut server, server_secrets, .. } = pair(None);
    pump(&mut server, &mut client);
    let fake = TrafficSecrets::new();
    rustls::KeyLog::log(&*fake, "CLIENT_TRAFFIC_SECRET_0", &[], &[1; 32]);
    rustls::KeyLog::log(&*fake, "SERVER_TRAFFIC_SECRET_0", &[], &[2; 32]);
    let extracted = server.dangerous_extract_secrets().unwrap();
    assert!(matches!(take_over(extracted, &fake, Side::Server), Err(RecordError::Keys(_))));
    drop(server_secrets);
    // Nothing logged at all.
    let Pair { client, .. } = pair(None);
    let extracted = client.dangerous_extract_secrets().unwrap();
    assert!(matches!(
        take_over(extracted, &TrafficSecrets::default(), Side::Client),
        Err(RecordError::Keys(_))
    ));
}

/// Fills the slots `read_frame` offers from `src`, at most `cap` bytes.
fn reader<'a>(
    src: &'a [u8],
    cap: usize,
) -> impl FnOnce(&mut [std::io::IoSliceMut<'_>]) -> std::io::Result<usize> + 'a {
    move |slots| {
        let mut n = 0;
        for s in slots.iter_mut() {
            let take = s.len().min(src.len() - n).min(cap - n);
            s[..take].copy_from_slice(&src[n..n + take]);
            n += take;
        }
        Ok(n)
    }
}

#[test]
fn the_outbox_seals_frames_where_they_were_read_and_rustls_reads_them() {
    let Pair { mut client, mut server, server_secrets, .. } = pair(None);
    pump(&mut server, &mut client);
    let (mut tx, _rx) = handed_over(server, &server_secrets, Side::Server);
    tx.keys.suite.limit = 7; // a key update every few records, inside reads too
    let mut ob = Outbox::default();
    let mut want = Vec::new();
    let data = bulk(300_000);
    let mut at = 0;
    // Control bytes, frames of odd sizes that straddle records, a failed and
    // an empty read (which add nothing).
    for (i, size) in [1usize, 9, 16_384, 16_375, 40_000, 100_000, 3, 70_000].into_iter().enumerate()
    {
        let ctl = [i as u8; 7];
        ob.push(&mut tx, &ctl).unwrap();
        want.extend_from_slice(&ctl);
        let err = ob.read_frame(&mut tx, 9, size, |_| Err(std::io::Error::other("no")), |_, _| {});
        assert!(err.is_err());
        assert_eq!(ob.read_frame(&mut tx, 9, size, |_| Ok(0), |_, _| {}).unwrap(), 0);
        // Near a key update a read takes fewer records: the rest follows.
        let mut done = 0;
        while done < size {
            let src = &data[at + done..at + size];
            let n = ob
                .read_frame(&mut tx, 9, src.len(), reader(src, src.len()), |n, h| {
                    h.copy_from_slice(&[0xAB; 9]);
                    h[..4].copy_from_slice(&(n as u32).to_be_bytes());
                })
                .unwrap();
            assert!(n > 0);
            let mut h = [0xAB; 9];
            h[..4].copy_from_slice(&(n as u32).to_be_bytes());
            want.extend_from_slice(&h);
            want.extend_from_slice(&src[..n]);
            done += n;
        }
        at += size;
    }
    ob.close(&mut tx).unwrap();
    let wire = ob.pending().to_vec();
    ob.advance(wire.len());
    assert_eq!(ob.len(), 0);
    assert_eq!(feed(&mut client, &wire), want);
}

#[test]
fn a_short_read_leaves_its_record_open_for_more() {
    let (mut tx, mut rx) = ours();
    let mut ob = Outbox::default();
    let data = bulk(50_000);
    ob.read_frame(&mut tx, 2, 50_000, reader(&data, 20_000), |_, h| h.fill(1)).unwrap();
    // One record sealed (16,384), the rest open: nothing of it sent yet.
    assert_eq!(ob.pending().len(), MAX_PLAIN + OVERHEAD);
    ob.push(&mut tx, b"tail").unwrap();
    ob.close(&mut tx).unwrap();
    let mut wire = ob.pending().to_vec();
    let (got, _) = open_all(&mut rx, &mut wire);
    assert_eq!(got.len(), 2 + 20_000 + 4);
    assert_eq!(&got[2..20_002], &data[..20_000]);
    assert_eq!(&got[20_002..], b"tail");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

    /// Any bytes: an error, a record, or "more needed", never a panic.
    #[test]
    fn hostile_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2000)) {
        let (_, mut rx) = ours();
        let mut b = bytes;
        let _ = rx.open(&mut b, 0);
        // With a plausible header in front too.
        let mut h = vec![23, 3, 3, (b.len() >> 8) as u8, b.len() as u8];
        h.extend_from_slice(&b);
        let _ = rx.open(&mut h, 0);
    }

    /// A sealed record with any one byte changed is refused.
    #[test]
    fn any_changed_byte_is_refused(at in 0usize..(40 + OVERHEAD), flip in 1u8..=255) {
        let (mut tx, mut rx) = ours();
        let mut rec = sealed(&mut tx, &bulk(40), APPLICATION_DATA);
        rec[at] ^= flip;
        let r = rx.open(&mut rec, 0);
        proptest::prop_assert!(matches!(r, Err(_) | Ok(None)), "{r:?}");
    }
}
