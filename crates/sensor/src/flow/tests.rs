use super::*;

const SYN: u8 = TcpFlags::SYN;
const SYNACK: u8 = TcpFlags::SYN | TcpFlags::ACK;
const ACK: u8 = TcpFlags::ACK;
const PSHACK: u8 = TcpFlags::PSH | TcpFlags::ACK;
const FINACK: u8 = TcpFlags::FIN | TcpFlags::ACK;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

fn secs(s: u64) -> Timestamp {
    Timestamp::from_parts(1_700_000_000 + s, 0)
}

/// A table and a way to send it packets (`src:sport > dst:dport`).
struct T {
    t: FlowTable,
}

impl T {
    fn new(cfg: FlowConfig) -> T {
        T { t: FlowTable::new(cfg) }
    }

    fn send(
        &mut self,
        ts: Timestamp,
        p: u8,
        src: &str,
        dst: &str,
        flags: Option<u8>,
        len: u32,
    ) -> Found {
        let (s, sp) = src.rsplit_once(':').unwrap_or((src, "0"));
        let (d, dp) = dst.rsplit_once(':').unwrap_or((dst, "0"));
        let (key, dir) =
            FlowKey::new([0, 0], p, ip(s), sp.parse().unwrap_or(0), ip(d), dp.parse().unwrap_or(0));
        let m = PacketMeta {
            wire_len: len,
            tcp_flags: flags.map(TcpFlags),
            src_mac: Some([2, 0, 0, 0, 0, dir as u8 + 1]),
            ..PacketMeta::default()
        };
        let found = self.t.lookup(&key, dir, ts, &m);
        self.t.count(found, ts, &m);
        found
    }

    fn tcp(&mut self, ts: Timestamp, src: &str, dst: &str, flags: u8, len: u32) -> Found {
        self.send(ts, proto::TCP, src, dst, Some(flags), len)
    }

    fn udp(&mut self, ts: Timestamp, src: &str, dst: &str, len: u32) -> Found {
        self.send(ts, proto::UDP, src, dst, None, len)
    }

    /// (client addr:port, server addr:port) of slot `idx`.
    fn ends(&mut self, idx: u32) -> (String, String, bool) {
        let key = *self.t.key(idx);
        let f = self.t.flow_mut(idx);
        let (c, s) = (f.client(), f.server());
        (
            format!("{}:{}", key.addr(c), key.port(c)),
            format!("{}:{}", key.addr(s), key.port(s)),
            f.direction_guessed(),
        )
    }

    fn ended(&mut self) -> Vec<(String, EndReason, [u64; 2])> {
        self.t
            .ended
            .drain(..)
            .map(|e| {
                let c = e.flow.client();
                let s = e.flow.server();
                (
                    format!("{}:{}", e.key.addr(c), e.key.port(c)),
                    e.reason,
                    [e.flow.packets[c], e.flow.packets[s]],
                )
            })
            .collect()
    }
}

#[test]
fn syn_sender_is_the_client_whichever_address_is_lower() {
    let mut t = T::new(FlowConfig::default());
    // The client has the higher address: endpoint b of the key.
    let f = t.tcp(secs(0), "10.0.0.9:40000", "10.0.0.1:22", SYN, 74);
    assert!(f.new);
    assert_eq!(f.dir, 1);
    t.tcp(secs(0), "10.0.0.1:22", "10.0.0.9:40000", SYNACK, 74);
    t.tcp(secs(0), "10.0.0.9:40000", "10.0.0.1:22", ACK, 66);
    assert_eq!(t.ends(f.idx), ("10.0.0.9:40000".into(), "10.0.0.1:22".into(), false));
    assert_eq!(t.t.flow_mut(f.idx).tcp_state(), "established");
}

#[test]
fn syn_ack_seen_first_still_decides_the_direction() {
    let mut t = T::new(FlowConfig::default());
    // The capture missed the SYN; the SYN-ACK comes from the server, whose
    // port (50000) is higher than the client's (80): ports would guess wrong.
    let f = t.tcp(secs(0), "192.0.2.1:50000", "192.0.2.2:80", SYNACK, 60);
    t.tcp(secs(0), "192.0.2.2:80", "192.0.2.1:50000", ACK, 60);
    assert_eq!(t.ends(f.idx), ("192.0.2.2:80".into(), "192.0.2.1:50000".into(), false));
    assert_eq!(t.t.flow_mut(f.idx).tcp_state(), "established");
}

#[test]
fn midstream_pickup_guesses_by_port_and_a_later_handshake_corrects_it() {
    let mut t = T::new(FlowConfig::default());
    let f = t.tcp(secs(0), "10.1.1.1:443", "10.1.1.2:51000", PSHACK, 1500);
    assert_eq!(t.ends(f.idx), ("10.1.1.2:51000".into(), "10.1.1.1:443".into(), true));
    assert_eq!(t.t.flow_mut(f.idx).tcp_state(), "midstream");
    // Two unknown high ports: the lower one is the server.
    let g = t.tcp(secs(0), "10.1.1.3:40001", "10.1.1.4:35000", ACK, 60);
    assert_eq!(t.ends(g.idx), ("10.1.1.3:40001".into(), "10.1.1.4:35000".into(), true));
    // A SYN from the "server" side settles it the other way.
    t.tcp(secs(1), "10.1.1.4:35000", "10.1.1.3:40001", SYN, 60);
    assert_eq!(t.ends(g.idx), ("10.1.1.4:35000".into(), "10.1.1.3:40001".into(), false));
}

#[test]
fn udp_first_sender_is_client_unless_it_answers_from_a_service_port() {
    let mut t = T::new(FlowConfig::default());
    let q = t.udp(secs(0), "10.0.0.5:53124", "10.0.0.53:53", 80);
    assert_eq!(t.ends(q.idx), ("10.0.0.5:53124".into(), "10.0.0.53:53".into(), false));
    // Reply seen first (query not captured): flipped, marked guessed.
    let r = t.udp(secs(0), "10.0.0.53:53", "10.0.0.6:53999", 120);
    assert_eq!(t.ends(r.idx), ("10.0.0.6:53999".into(), "10.0.0.53:53".into(), true));
    // Both ends on one service port: the first sender.
    let m = t.udp(secs(0), "10.0.0.7:5353", "224.0.0.251:5353", 100);
    assert_eq!(t.ends(m.idx), ("10.0.0.7:5353".into(), "224.0.0.251:5353".into(), false));
    // A DHCP server's reply (67 → 68) makes the server the server.
    let d = t.udp(secs(0), "192.168.0.1:67", "192.168.0.10:68", 342);
    assert_eq!(t.ends(d.idx), ("192.168.0.10:68".into(), "192.168.0.1:67".into(), true));
}

#[test]
fn packets_and_bytes_are_counted_per_direction() {
    let mut t = T::new(FlowConfig::default());
    let f = t.tcp(secs(0), "10.0.0.9:40000", "10.0.0.1:22", SYN, 74);
    t.tcp(secs(0), "10.0.0.1:22", "10.0.0.9:40000", SYNACK, 70);
    t.tcp(secs(1), "10.0.0.9:40000", "10.0.0.1:22", PSHACK, 100);
    t.tcp(secs(2), "10.0.0.1:22", "10.0.0.9:40000", PSHACK, 1514);
    t.tcp(secs(2), "10.0.0.1:22", "10.0.0.9:40000", PSHACK, 1514);
    let flow = t.t.flow_mut(f.idx);
    let (c, s) = (flow.client(), flow.server());
    assert_eq!((flow.packets[c], flow.packets[s]), (2, 3));
    assert_eq!((flow.bytes[c], flow.bytes[s]), (174, 3098));
    assert_eq!((flow.first, flow.last), (secs(0), secs(2)));
    assert_eq!(flow.mac(c), Some([2, 0, 0, 0, 0, 2]));
}

#[test]
fn idle_timeouts_follow_packet_time_per_kind_of_flow() {
    let mut t = T::new(FlowConfig::default());
    t.udp(secs(0), "10.0.0.5:5000", "10.0.0.6:514", 100);
    let est = t.tcp(secs(0), "10.0.0.9:40000", "10.0.0.1:22", SYN, 74);
    t.tcp(secs(0), "10.0.0.1:22", "10.0.0.9:40000", SYNACK, 74);
    t.tcp(secs(0), "10.0.0.9:40000", "10.0.0.1:22", ACK, 66);
    let syn_only = t.tcp(secs(0), "10.0.0.9:40001", "10.0.0.2:23", SYN, 74);
    assert_ne!(est.idx, syn_only.idx);
    assert_eq!(t.t.len(), 3);

    t.t.expire(secs(59));
    assert!(t.ended().is_empty(), "UDP lives 60 s");
    t.t.expire(secs(60));
    assert_eq!(t.ended(), vec![("10.0.0.5:5000".into(), EndReason::Idle, [1, 0])]);

    t.t.expire(secs(299));
    assert!(t.ended().is_empty());
    t.t.expire(secs(300));
    assert_eq!(t.ended(), vec![("10.0.0.9:40001".into(), EndReason::Idle, [1, 0])]);

    // The established connection is kept alive by a packet at 1000 s and
    // lives an hour after it.
    t.tcp(secs(1000), "10.0.0.1:22", "10.0.0.9:40000", PSHACK, 100);
    t.t.expire(secs(3601));
    assert!(t.ended().is_empty());
    t.t.expire(secs(4599));
    assert!(t.ended().is_empty());
    t.t.expire(secs(4600));
    assert_eq!(t.ended(), vec![("10.0.0.9:40000".into(), EndReason::Idle, [2, 2])]);
    assert_eq!(t.t.stats.idle, 3);
    assert!(t.t.is_empty());
}

#[test]
fn closed_connections_time_out_sooner_and_reused_ports_start_a_new_flow() {
    let mut t = T::new(FlowConfig::default());
    let a = t.tcp(secs(0), "10.0.0.9:40000", "10.0.0.1:80", SYN, 74);
    t.tcp(secs(0), "10.0.0.1:80", "10.0.0.9:40000", SYNACK, 74);
    t.tcp(secs(0), "10.0.0.9:40000", "10.0.0.1:80", ACK, 66);
    t.tcp(secs(1), "10.0.0.9:40000", "10.0.0.1:80", FINACK, 66);
    t.tcp(secs(1), "10.0.0.1:80", "10.0.0.9:40000", FINACK, 66);
    assert_eq!(t.t.flow_mut(a.idx).tcp_state(), "closed");
    // Same ports again: the old record ends as reused.
    let b = t.tcp(secs(2), "10.0.0.9:40000", "10.0.0.1:80", SYN, 74);
    assert!(b.new);
    assert_eq!(t.ended(), vec![("10.0.0.9:40000".into(), EndReason::Reused, [3, 2])]);
    t.tcp(secs(2), "10.0.0.1:80", "10.0.0.9:40000", TcpFlags::RST | TcpFlags::ACK, 60);
    assert_eq!(t.t.flow_mut(b.idx).tcp_state(), "reset");
    t.t.expire(secs(302));
    assert_eq!(t.ended(), vec![("10.0.0.9:40000".into(), EndReason::Idle, [1, 1])]);
}

#[test]
fn long_flows_are_written_in_segments_and_go_on() {
    let cfg = FlowConfig { active_timeout: Duration::from_secs(600), ..FlowConfig::default() };
    let mut t = T::new(cfg);
    let mut first = None;
    // One packet each way every 10 s for 25 minutes.
    for i in 0..150 {
        let f = t.udp(secs(i * 10), "10.0.0.5:40000", "10.0.0.6:1194", 100);
        t.udp(secs(i * 10), "10.0.0.6:1194", "10.0.0.5:40000", 200);
        first.get_or_insert(f.idx);
        assert_eq!(f.idx, first.unwrap_or(0), "one flow throughout");
    }
    let segs = t.ended();
    assert_eq!(
        segs,
        vec![
            ("10.0.0.5:40000".into(), EndReason::ActiveTimeout, [60, 60]),
            ("10.0.0.5:40000".into(), EndReason::ActiveTimeout, [60, 60]),
        ]
    );
    t.t.drain(EndReason::End);
    assert_eq!(t.ended(), vec![("10.0.0.5:40000".into(), EndReason::End, [30, 30])]);
    assert_eq!(t.t.stats.active_splits, 2);
}

#[test]
fn a_full_table_evicts_the_least_recently_seen_flow_and_counts_it() {
    let cfg = FlowConfig { max_flows: 3, ..FlowConfig::default() };
    let mut t = T::new(cfg);
    t.udp(secs(0), "10.0.0.1:1000", "10.0.0.100:53", 60);
    t.udp(secs(1), "10.0.0.2:1000", "10.0.0.100:53", 60);
    let c = t.tcp(secs(2), "10.0.0.3:1000", "10.0.0.100:80", SYN, 60);
    // The first flow is seen again: the second is now the oldest.
    t.udp(secs(3), "10.0.0.1:1000", "10.0.0.100:53", 60);
    t.tcp(secs(4), "10.0.0.100:80", "10.0.0.3:1000", SYNACK, 60);
    let d = t.udp(secs(5), "10.0.0.4:1000", "10.0.0.100:53", 60);
    assert!(d.new);
    assert_eq!(t.ended(), vec![("10.0.0.2:1000".into(), EndReason::Evicted, [1, 0])]);
    assert_eq!(t.t.len(), 3);
    t.udp(secs(6), "10.0.0.5:1000", "10.0.0.100:53", 60);
    assert_eq!(t.ended(), vec![("10.0.0.1:1000".into(), EndReason::Evicted, [2, 0])]);
    assert_eq!(t.t.stats.evicted, 2);
    assert_eq!(t.t.stats.peak, 3);
    // The evicted flows' slots were reused: no growth past the limit.
    assert!(t.t.slots.len() <= 3);
    assert!(!t.t.flow_mut(c.idx).direction_guessed());
}

#[test]
#[allow(clippy::print_stderr, reason = "the figure is reported with --nocapture")]
fn a_tracked_flow_costs_at_most_512_bytes() {
    let per_flow = FlowTable::bytes_per_flow();
    eprintln!(
        "slot {} B, flow {} B, key {} B; per tracked flow with the hash index: {per_flow} B",
        std::mem::size_of::<Slot>(),
        std::mem::size_of::<Flow>(),
        std::mem::size_of::<FlowKey>()
    );
    assert!(per_flow <= 512, "{per_flow}");
}

#[test]
fn keys_are_the_same_both_ways_and_distinguish_vlans() {
    let (k1, d1) = FlowKey::new([0, 0], 6, ip("10.0.0.2"), 80, ip("10.0.0.1"), 5000);
    let (k2, d2) = FlowKey::new([0, 0], 6, ip("10.0.0.1"), 5000, ip("10.0.0.2"), 80);
    assert_eq!(k1, k2);
    assert_ne!(d1, d2);
    let (k3, _) = FlowKey::new([10, 0], 6, ip("10.0.0.1"), 5000, ip("10.0.0.2"), 80);
    assert_ne!(k1, k3);
    assert_eq!(k1.addr(0), ip("10.0.0.1"));
    let (k6, _) = FlowKey::new([0, 0], 17, ip("2001:db8::1"), 1, ip("2001:db8::2"), 2);
    assert_eq!(k6.addr(1), ip("2001:db8::2"));
    // An IPv4 address and its IPv4-mapped IPv6 form are different flows.
    let (km, _) = FlowKey::new([0, 0], 17, ip("::ffff:10.0.0.1"), 1, ip("::ffff:10.0.0.2"), 2);
    let (k4, _) = FlowKey::new([0, 0], 17, ip("10.0.0.1"), 1, ip("10.0.0.2"), 2);
    assert_ne!(km, k4);
}

#[test]
fn timestamps_print_as_rfc3339_with_fractions() {
    assert_eq!(
        Timestamp::from_parts(1_368_565_674, 518_143_000).rfc3339(),
        "2013-05-14T21:07:54.518143Z"
    );
    assert_eq!(Timestamp::from_parts(0, 0).rfc3339(), "1970-01-01T00:00:00.000000Z");
    assert_eq!(Timestamp::from_parts(1, 5).rfc3339(), "1970-01-01T00:00:01.000000005Z");
}

#[test]
fn service_ports() {
    assert!(is_service_port(443) && is_service_port(11112) && is_service_port(2575));
    assert!(is_service_port(47808) && is_service_port(51820));
    assert!(!is_service_port(50000) && !is_service_port(0));
    assert_eq!(transport_name(50), "esp");
    assert_eq!(transport_name(200), "ip-proto-200");
}
