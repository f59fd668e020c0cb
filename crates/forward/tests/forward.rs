//! The forwarder against real receivers on 127.0.0.1: frames, order, and
//! nothing lost while the SIEM (or sekimori itself) is down.

mod common;

use std::time::{Duration, Instant};

use common::{Receiver, alert, free_port, parse_5424, pki, quick, recv_n, syslog_dest};
use sekimori_forward::{
    DestinationKind, DestinationStatus, ForwardConfig, ForwardError, Forwarder, ForwarderHandle,
    Transport, fingerprint,
};
use sekimori_types::AlertSeverity;
use tokio::sync::mpsc;

fn config(dests: Vec<sekimori_forward::DestinationConfig>) -> ForwardConfig {
    ForwardConfig {
        destinations: dests,
        hostname: Some("sekimori-test".into()),
        segment_bytes: 4096,
    }
}

/// The alert number each message carries (its `count`), checking the
/// message is well formed on the way.
fn numbers(frames: Vec<Result<String, String>>) -> Vec<u64> {
    frames
        .into_iter()
        .map(|f| {
            let line = f.expect("well-formed frame");
            let m = parse_5424(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
            m.param("count").unwrap().parse().unwrap()
        })
        .collect()
}

async fn submit_range(h: &ForwarderHandle, range: std::ops::RangeInclusive<u64>) {
    for n in range {
        let r = h.submit(&alert(n)).await.expect("queued");
        assert!(!r.queued.is_empty());
    }
}

fn status(h: &ForwarderHandle, name: &str) -> DestinationStatus {
    h.status().into_iter().find(|s| s.name == name).unwrap()
}

/// Waits (bounded) until the destination has failed at least once.
async fn until_failed(h: &ForwarderHandle, name: &str) -> DestinationStatus {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let s = status(h, name);
        if s.failed_attempts > 0 && !s.connected {
            return s;
        }
        assert!(Instant::now() < deadline, "{s:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn tcp_frames_are_exact_and_every_message_parses() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let recv = Receiver::start(0, None, tx).await;
    let dir = tempfile::tempdir().unwrap();
    let h = Forwarder::start(
        config(vec![syslog_dest("siem", DestinationKind::Syslog, Transport::Tcp, recv.port)]),
        dir.path(),
    )
    .await
    .unwrap();
    let hostile = [
        "quote \" bracket ] backslash \\ end",
        "new\nline\r\nand NUL \0 and tab\t",
        "pipe | equals = 等号",
        "",
    ];
    for (i, text) in hostile.iter().enumerate() {
        let mut a = alert(i as u64 + 1);
        a.summary = (*text).to_owned();
        a.summary_ja = format!("日本語 {text}");
        a.evidence.detail("rule name", "a]b\"c");
        h.submit(&a).await.unwrap();
    }
    let mut big = alert(5);
    big.summary = "長い要約".repeat(10_000);
    big.summary_ja = "x".repeat(50_000);
    h.submit(&big).await.unwrap();

    let got = recv_n(&mut rx, 5, 10).await;
    let msgs: Vec<_> = got
        .into_iter()
        .map(|f| {
            let line = f.expect("well-formed frame");
            assert!(line.len() <= 8192, "over the cap: {}", line.len());
            parse_5424(&line).unwrap_or_else(|e| panic!("{e}: {line}"))
        })
        .collect();
    for (m, text) in msgs.iter().zip(hostile) {
        assert_eq!(m.pri, 20 * 8 + 3);
        assert_eq!((m.app.as_str(), m.msgid.as_str()), ("sekimori", "exfiltration"));
        assert_eq!(m.hostname, "sekimori-test");
        let expect: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
        assert_eq!(m.msg, expect);
        assert_eq!(m.param("summary_ja").unwrap(), format!("日本語 {expect}"));
        assert_eq!(m.param("d_rule_name"), Some("a]b\"c"));
    }
    let last = &msgs[4];
    assert_eq!(last.param("truncated"), Some("true"));
    assert!(last.msg.ends_with('…') && last.msg.starts_with("長い要約"));
    assert_eq!(last.param("id"), Some(big.id.to_string().as_str()));
    h.shutdown().await;
    recv.stop().await;
}

/// Submits 1..=5, stops the receiver, submits 6..=10 (the caller is not
/// held up), restarts the receiver on the same port: 1..=10 arrive, in
/// order, once each.
async fn outage_loses_nothing(kind: DestinationKind, transport: Transport, tls: bool) {
    let pki = pki();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &pki.ca_pem).unwrap();
    let server = tls.then(|| pki.server.clone());
    let (tx, mut rx) = mpsc::unbounded_channel();
    let recv = Receiver::start(0, server.clone(), tx.clone()).await;
    let port = recv.port;
    let mut d = syslog_dest("siem", kind, transport, port);
    if tls {
        d.ca_file = Some(ca);
    }
    let h = Forwarder::start(config(vec![d]), dir.path().join("queue")).await.unwrap();

    submit_range(&h, 1..=5).await;
    let first = recv_n(&mut rx, 5, 10).await;
    recv.stop().await;

    let started = Instant::now();
    submit_range(&h, 6..=10).await;
    assert!(started.elapsed() < Duration::from_secs(2), "submit waited for the SIEM");
    let s = until_failed(&h, "siem").await;
    assert!(s.queued >= 1, "{s:?}");
    assert!(s.last_error.is_some());

    let recv = Receiver::start(port, server, tx).await;
    let second = recv_n(&mut rx, 5, 10).await;
    common::assert_quiet(&mut rx, 200).await;
    let all: Vec<u64> = numbers(first.into_iter().chain(second).collect());
    assert_eq!(all, (1..=10).collect::<Vec<_>>(), "all, in order, once");
    common::wait_until(5, || status(&h, "siem").delivered == 10).await;
    let s = status(&h, "siem");
    assert_eq!((s.queued, s.delivered), (0, 10), "{s:?}");
    assert!(s.connected);
    h.shutdown().await;
    recv.stop().await;
}

#[tokio::test]
async fn tcp_receiver_outage_loses_nothing_and_keeps_order() {
    outage_loses_nothing(DestinationKind::Syslog, Transport::Tcp, false).await;
}

#[tokio::test]
async fn tls_receiver_outage_loses_nothing_and_keeps_order() {
    outage_loses_nothing(DestinationKind::Syslog, Transport::Tls, true).await;
}

#[tokio::test]
async fn cef_over_tls_outage_loses_nothing() {
    let pki = pki();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &pki.ca_pem).unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let recv = Receiver::start(0, Some(pki.server.clone()), tx.clone()).await;
    let port = recv.port;
    let mut d = syslog_dest("arcsight", DestinationKind::Cef, Transport::Tls, port);
    d.ca_file = Some(ca);
    let h = Forwarder::start(config(vec![d]), dir.path().join("q")).await.unwrap();
    submit_range(&h, 1..=3).await;
    let mut got = recv_n(&mut rx, 3, 10).await;
    recv.stop().await;
    submit_range(&h, 4..=6).await;
    until_failed(&h, "arcsight").await;
    let recv = Receiver::start(port, Some(pki.server.clone()), tx).await;
    got.extend(recv_n(&mut rx, 3, 10).await);
    let counts: Vec<u64> = got
        .into_iter()
        .map(|f| {
            let line = f.unwrap();
            let m = parse_5424(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
            assert!(m.sd.is_empty());
            assert!(m.msg.starts_with("CEF:0|sekimori|sekimori|"), "{}", m.msg);
            let cnt = m.msg.split(' ').find_map(|kv| kv.strip_prefix("cnt=")).unwrap();
            cnt.parse().unwrap()
        })
        .collect();
    assert_eq!(counts, [1, 2, 3, 4, 5, 6]);
    h.shutdown().await;
    recv.stop().await;
}

#[tokio::test]
async fn restarting_the_forwarder_while_the_receiver_is_down_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let recv = Receiver::start(0, None, tx.clone()).await;
    let port = recv.port;
    let cfg = config(vec![syslog_dest("siem", DestinationKind::Syslog, Transport::Tcp, port)]);

    let h = Forwarder::start(cfg.clone(), dir.path()).await.unwrap();
    submit_range(&h, 1..=3).await;
    let mut got = recv_n(&mut rx, 3, 10).await;
    recv.stop().await;
    submit_range(&h, 4..=7).await;
    until_failed(&h, "siem").await;
    h.shutdown().await;

    // A new process, same queue directory; the receiver is still down.
    let h = Forwarder::start(cfg.clone(), dir.path()).await.unwrap();
    assert_eq!(status(&h, "siem").queued, 4);
    submit_range(&h, 8..=9).await;
    until_failed(&h, "siem").await;
    // Dropped without a graceful shutdown this time.
    drop(h);

    let h = Forwarder::start(cfg, dir.path()).await.unwrap();
    submit_range(&h, 10..=10).await;
    let recv = Receiver::start(port, None, tx).await;
    got.extend(recv_n(&mut rx, 7, 10).await);
    common::assert_quiet(&mut rx, 200).await;
    assert_eq!(numbers(got), (1..=10).collect::<Vec<_>>());
    h.shutdown().await;
    recv.stop().await;
}

#[tokio::test]
async fn a_pinned_fingerprint_is_trusted_and_a_wrong_one_delivers_nothing() {
    let pki = pki();
    let dir = tempfile::tempdir().unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let recv = Receiver::start(0, Some(pki.server.clone()), tx).await;
    let mut good = syslog_dest("pinned", DestinationKind::Syslog, Transport::Tls, recv.port);
    good.fingerprint = Some(fingerprint(&pki.leaf_der));
    let mut bad = syslog_dest("wrong-pin", DestinationKind::Syslog, Transport::Tls, recv.port);
    bad.fingerprint = Some(format!("SHA256:{}", "AB:".repeat(31) + "AB"));
    let h = Forwarder::start(config(vec![good, bad]), dir.path()).await.unwrap();
    submit_range(&h, 1..=2).await;
    assert_eq!(numbers(recv_n(&mut rx, 2, 10).await), [1, 2]);
    let s = until_failed(&h, "wrong-pin").await;
    assert_eq!((s.delivered, s.queued), (0, 2));
    let err = s.last_error.unwrap();
    assert!(err.contains("does not match the pinned fingerprint"), "{err}");
    assert!(err.contains(&fingerprint(&pki.leaf_der)), "{err}");
    common::assert_quiet(&mut rx, 200).await;
    h.shutdown().await;
    recv.stop().await;
}

#[tokio::test]
async fn a_certificate_from_another_ca_is_refused() {
    let (pki, other) = (pki(), pki());
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("other-ca.pem");
    std::fs::write(&ca, &other.ca_pem).unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let recv = Receiver::start(0, Some(pki.server.clone()), tx).await;
    let mut d = syslog_dest("siem", DestinationKind::Syslog, Transport::Tls, recv.port);
    d.ca_file = Some(ca);
    let h = Forwarder::start(config(vec![d]), dir.path().join("q")).await.unwrap();
    submit_range(&h, 1..=1).await;
    let s = until_failed(&h, "siem").await;
    assert!(s.last_error.unwrap().contains("TLS with 127.0.0.1"));
    assert_eq!(s.queued, 1);
    common::assert_quiet(&mut rx, 100).await;
    h.shutdown().await;
    recv.stop().await;
}

#[tokio::test]
async fn a_destination_that_is_down_does_not_delay_another() {
    let dir = tempfile::tempdir().unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let recv = Receiver::start(0, None, tx).await;
    let dead = free_port().await;
    let h = Forwarder::start(
        config(vec![
            syslog_dest("down", DestinationKind::Syslog, Transport::Tcp, dead),
            syslog_dest("up", DestinationKind::Syslog, Transport::Tcp, recv.port),
        ]),
        dir.path(),
    )
    .await
    .unwrap();
    let started = Instant::now();
    submit_range(&h, 1..=5).await;
    assert_eq!(numbers(recv_n(&mut rx, 5, 10).await), [1, 2, 3, 4, 5]);
    assert!(started.elapsed() < Duration::from_secs(2));
    let down = until_failed(&h, "down").await;
    assert_eq!(down.queued, 5);
    assert!(down.last_error.unwrap().contains("cannot connect to 127.0.0.1"));
    h.shutdown().await;
    recv.stop().await;
}

#[tokio::test]
async fn udp_sends_one_well_formed_datagram_per_alert() {
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = sock.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let h = Forwarder::start(
        config(vec![syslog_dest("udp", DestinationKind::Syslog, Transport::Udp, port)]),
        dir.path(),
    )
    .await
    .unwrap();
    submit_range(&h, 1..=3).await;
    let mut got = Vec::new();
    let mut buf = vec![0u8; 65536];
    for _ in 0..3 {
        let n = tokio::time::timeout(Duration::from_secs(5), sock.recv(&mut buf))
            .await
            .unwrap()
            .unwrap();
        got.push(Ok(String::from_utf8(buf[..n].to_vec()).unwrap()));
    }
    assert_eq!(numbers(got), [1, 2, 3]);
    h.shutdown().await;
}

#[tokio::test]
async fn alerts_below_min_severity_are_not_sent() {
    let dir = tempfile::tempdir().unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let recv = Receiver::start(0, None, tx).await;
    let mut d = syslog_dest("siem", DestinationKind::Syslog, Transport::Tcp, recv.port);
    d.min_severity = AlertSeverity::Critical;
    let h = Forwarder::start(config(vec![d]), dir.path()).await.unwrap();
    let r = h.submit(&alert(1)).await.unwrap();
    assert_eq!(r.filtered, ["siem"]);
    let mut crit = alert(2);
    crit.severity = AlertSeverity::Critical;
    h.submit(&crit).await.unwrap();
    let got = recv_n(&mut rx, 1, 10).await;
    let m = parse_5424(got[0].as_ref().unwrap()).unwrap();
    assert_eq!((m.param("count"), m.pri), (Some("2"), 20 * 8 + 2));
    common::assert_quiet(&mut rx, 100).await;
    h.shutdown().await;
    recv.stop().await;
}

#[tokio::test]
async fn a_full_queue_refuses_and_counts_never_drops_silently() {
    let dir = tempfile::tempdir().unwrap();
    let dead = free_port().await;
    let mut d = syslog_dest("siem", DestinationKind::Syslog, Transport::Tcp, dead);
    d.queue_max_bytes = 4096;
    let h = Forwarder::start(config(vec![d]), dir.path()).await.unwrap();
    let mut accepted = 0u64;
    let mut refused = 0u64;
    for n in 1..=20 {
        match h.submit(&alert(n)).await {
            Ok(_) => accepted += 1,
            Err(ForwardError::NotQueued { destinations, first }) => {
                assert_eq!(destinations, ["siem"]);
                assert!(matches!(*first, ForwardError::QueueFull { .. }), "{first}");
                refused += 1;
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert!(accepted >= 3 && refused >= 1, "{accepted} accepted, {refused} refused");
    let s = status(&h, "siem");
    assert_eq!((s.queued, s.refused), (accepted, refused));
    h.shutdown().await;
}

#[tokio::test]
async fn invalid_configuration_is_refused_before_anything_starts() {
    let dir = tempfile::tempdir().unwrap();
    let mut d = syslog_dest("siem", DestinationKind::Syslog, Transport::Tls, 6514);
    d.ca_file = None;
    match Forwarder::start(config(vec![d]), dir.path()).await {
        Err(ForwardError::Config { field, reason }) => {
            assert_eq!(field, "destinations[0].ca_file");
            assert_eq!(reason, "tls_needs_ca_file_or_fingerprint");
        }
        other => panic!("{other:?}"),
    }
    let mut d = syslog_dest("siem", DestinationKind::Syslog, Transport::Tls, 6514);
    d.ca_file = Some(dir.path().join("missing.pem"));
    quick(&mut d);
    let e = Forwarder::start(config(vec![d]), dir.path()).await.unwrap_err();
    assert!(matches!(e, ForwardError::ReadFile { what: "CA file", .. }), "{e}");
}

#[tokio::test]
async fn queue_damage_found_at_start_is_counted_and_named_and_the_rest_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let dead = free_port().await;
    let cfg = config(vec![syslog_dest("siem", DestinationKind::Syslog, Transport::Tcp, dead)]);
    let h = Forwarder::start(cfg.clone(), dir.path()).await.unwrap();
    submit_range(&h, 1..=3).await;
    h.shutdown().await;
    // A crash tore the last record.
    let segment = std::fs::read_dir(dir.path().join("siem"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "seg"))
        .unwrap();
    let len = std::fs::metadata(&segment).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&segment).unwrap().set_len(len - 5).unwrap();

    let (tx, mut rx) = mpsc::unbounded_channel();
    let recv = Receiver::start(0, None, tx).await;
    let mut cfg = cfg;
    cfg.destinations[0].address = Some(format!("127.0.0.1:{}", recv.port));
    let h = Forwarder::start(cfg, dir.path()).await.unwrap();
    let s = status(&h, "siem");
    assert_eq!(s.corrupt_records, 1);
    let err = s.last_error.unwrap();
    assert!(err.contains(&segment.display().to_string()) && err.contains("offset"), "{err}");
    assert_eq!(numbers(recv_n(&mut rx, 2, 10).await), [1, 2]);
    h.shutdown().await;
    recv.stop().await;
}
