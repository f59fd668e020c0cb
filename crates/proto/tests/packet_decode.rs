//! `packet::decode` on real frames from testdata/pcaps (hex copied from the
//! captures, values cross-checked with tshark), frames built by hand for
//! the encapsulations no capture has, every prefix of each frame, and
//! arbitrary bytes.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;
use sekimori_proto::packet::{
    DecodeError, Ip, Layer3, LinkType, NonIp, Packet, TcpFlags, Transport, Tunnel, decode,
};

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2).unwrap(), 16).unwrap())
        .collect()
}

fn v4(s: &str) -> IpAddr {
    IpAddr::V4(s.parse::<Ipv4Addr>().unwrap())
}

fn v6(s: &str) -> IpAddr {
    IpAddr::V6(s.parse::<Ipv6Addr>().unwrap())
}

fn ip_of<'a>(p: &Packet<'a>) -> (Ip, Transport<'a>) {
    match p.l3 {
        Layer3::Ip { ip, transport } => (ip, transport),
        other => panic!("not IP: {other:?}"),
    }
}

// ndpi_vnc.pcap frame 7: 60-byte frame, IP total length 41, one byte of
// VNC payload (0x0d) then 5 bytes of Ethernet padding.
const VNC_PADDED: &str = "10feed0249edc4ea1dc501860800450000295ed44000740654275fed30d0c0a8026ee98f1af4eac53071107e679a5018413575ef00000d0000000000";
// ndpi_bacnet.pcap frame 1: UDP length 25 in a 60-byte frame.
const BACNET_PADDED: &str = "6ecd4fa2066d3c94d541388108004500002dd4310000f311fd8c413114625a9345dbcff2bac000190000810a001101040005a90c0c023fffff194b00";
// ndpi_syslog.pcap frame 20: 802.1Q VLAN 121, syslog over UDP.
const SYSLOG_VLAN: &str = "00000c9ff07900211bae31c18100007908004500008f00460000ff1148b2c0a8790ac0a8780ac3a00202007b32803c3138393e37323a204d61722020332031393a35373a31372e3337313a20254c494e4b2d352d4348414e4745443a20496e74657266616365204769676162697445746865726e6574302f322c206368616e67656420737461746520746f2061646d696e6973747261746976656c7920646f776e";
// ndpi_syslog.pcap frame 72: VLAN 1506, TCP SYN with options.
const SYN_VLAN: &str = "000000000000000700000006810005e208004500004043ce40003f067b9d0aba75c2a92e52a2c31ccbcd2ee958d400000000b002ffffaf6b0000020405b4010303050101080a0549ef530000000004020000";
// arkime_wireshark_lldp.pcap frame 1.
const LLDP: &str = "0180c200000e0004961fa72688cc0207040004961fa726040405312f33060200780602000106020002060200030000ffffffffffffffffffffffffffffffaabb";
// zeek_cdp_v1.pcap frame 1: IEEE 802.3 length 286, LLC SNAP, CDP.
const CDP: &str = "01000ccccccc00e01ed5d515011eaaaa0300000c200001b4dff000010006523100020011000000010101cc0004c0a80a010003000d45746865726e6574300004000800000001000500d8436973636f20496e7465726e6574776f726b204f7065726174696e672053797374656d20536f667477617265200a494f532028746d29203136303020536f667477617265202843313630302d4e592d4c292c2056657273696f6e2031312e3228313229502c2052454c4541534520534f4654574152452028666331290a436f707972696768742028632920313938362d3139393820627920636973636f2053797374656d732c20496e632e0a436f6d70696c6564205475652030332d4d61722d39382030363a33332062792064736368776172740006000e636973636f2031363031";
// ndpi_anyconnect_vpn.pcap frame 100: ARP request.
const ARP: &str =
    "ffffffffffff34363bcf75280806000108000604000134363bcf75280a0000e30000000000000a0000d5";
// zeek_mdns.pcap frame 6: IPv6 hop-by-hop (router alert), ICMPv6 MLDv2 report (143).
const MLD_HOPOPTS: &str = "3333000000168a3cd6e14dc486dd6000000000240001fe80000000000000883cd6fffee14dc4ff0200000000000000000000000000163a000502000001008f00c42d0000000103000000ff0200000000000000000000000000fb";
// arkime_nbns.pcap frame 5: ICMP router solicitation (type 10), padded.
const ICMP: &str = "01005e00000200505633789e08004500001c0b00000080019fb4c0a8ef81e00000020a00f5ff00000000000000000000000000000000000000000000";

/// ndpi_syslog.pcap frame 1: PPPoE session, PPP IPv4, syslog (703 bytes).
fn pppoe_frame() -> Vec<u8> {
    let mut f = hex(
        "001733610000e0a1d718c273886411001b3d02ab002145b402a90000400040110a4f5f88f2365d147e6e02020202029530543c",
    );
    // The rest of the 661-byte UDP datagram: syslog text, not needed
    // verbatim for the headers under test; the lengths are real.
    f.resize(703, b'x');
    f
}

/// ndpi_syslog.pcap frame 26: IPv6 in IPv4 (6in4), syslog over UDP (480 bytes).
fn sixinfour_frame() -> Vec<u8> {
    let mut f = hex(
        "0010dbff10000021591ff10c0800450001d277ad00008029ee7dc118e30ad8425672600000000196114020010470006c00a1000000000000000220010470765b0000000000000b150022950f020201963ddd3c3133333e",
    );
    f.resize(480, b'x');
    f
}

#[test]
fn tcp_payload_stops_at_the_ip_length_not_the_padding() {
    let f = hex(VNC_PADDED);
    assert_eq!(f.len(), 60);
    let p = decode(LinkType::Ethernet, &f).unwrap();
    assert_eq!(p.src_mac, Some([0xc4, 0xea, 0x1d, 0xc5, 0x01, 0x86]));
    assert_eq!(p.dst_mac, Some([0x10, 0xfe, 0xed, 0x02, 0x49, 0xed]));
    assert_eq!(p.vlan, [0, 0]);
    let (ip, t) = ip_of(&p);
    assert_eq!(ip.src, v4("95.237.48.208"));
    assert_eq!(ip.dst, v4("192.168.2.110"));
    assert_eq!((ip.protocol, ip.len, ip.fragment, ip.truncated), (6, 41, false, false));
    assert_eq!(
        t,
        Transport::Tcp {
            sport: 59791,
            dport: 6900,
            seq: 3938791537,
            ack: 276719514,
            flags: TcpFlags(TcpFlags::PSH | TcpFlags::ACK),
            payload: &[0x0d],
        }
    );
}

#[test]
fn udp_payload_stops_at_the_udp_length() {
    let f = hex(BACNET_PADDED);
    let (ip, t) = ip_of(&decode(LinkType::Ethernet, &f).unwrap());
    assert_eq!((ip.src, ip.dst, ip.len), (v4("65.49.20.98"), v4("90.147.69.219"), 45));
    let Transport::Udp { sport, dport, payload } = t else { panic!("{t:?}") };
    assert_eq!((sport, dport, payload.len()), (53234, 47808, 17));
    assert_eq!(payload.first(), Some(&0x81)); // BVLC type
}

#[test]
fn vlan_tagged_udp() {
    let f = hex(SYSLOG_VLAN);
    let p = decode(LinkType::Ethernet, &f).unwrap();
    assert_eq!(p.vlan, [121, 0]);
    let (ip, t) = ip_of(&p);
    assert_eq!((ip.src, ip.dst), (v4("192.168.121.10"), v4("192.168.120.10")));
    let Transport::Udp { sport, dport, payload } = t else { panic!("{t:?}") };
    assert_eq!((sport, dport, payload.len()), (50080, 514, 115));
    assert!(payload.starts_with(b"<189>72: Mar  3"));
}

#[test]
fn vlan_tagged_tcp_syn_with_options() {
    let f = hex(SYN_VLAN);
    let p = decode(LinkType::Ethernet, &f).unwrap();
    assert_eq!(p.vlan, [1506, 0]);
    let (ip, t) = ip_of(&p);
    assert_eq!((ip.src, ip.dst, ip.len), (v4("10.186.117.194"), v4("169.46.82.162"), 64));
    assert_eq!(
        t,
        Transport::Tcp {
            sport: 49948,
            dport: 52173,
            seq: 787044564,
            ack: 0,
            flags: TcpFlags(TcpFlags::SYN),
            payload: &[]
        }
    );
}

#[test]
fn qinq_keeps_both_vlan_ids() {
    for outer_type in [[0x88, 0xa8], [0x91, 0x00], [0x81, 0x00]] {
        let vlan = hex(SYSLOG_VLAN);
        let mut f = vlan.get(..12).unwrap().to_vec();
        f.extend_from_slice(&outer_type);
        f.extend_from_slice(&[0x20, 0x64]); // PCP 1, VID 100
        f.extend_from_slice(vlan.get(12..).unwrap());
        let p = decode(LinkType::Ethernet, &f).unwrap();
        assert_eq!(p.vlan, [100, 121]);
        let (ip, _) = ip_of(&p);
        assert_eq!(ip.src, v4("192.168.121.10"));
    }
}

#[test]
fn pppoe_session_carries_ipv4() {
    let f = pppoe_frame();
    let p = decode(LinkType::Ethernet, &f).unwrap();
    let (ip, t) = ip_of(&p);
    assert_eq!((ip.src, ip.dst, ip.len), (v4("95.136.242.54"), v4("93.20.126.110"), 681));
    let Transport::Udp { sport, dport, payload } = t else { panic!("{t:?}") };
    assert_eq!((sport, dport, payload.len()), (514, 514, 653));
    assert_eq!(payload.first(), Some(&b'<'));
}

#[test]
fn six_in_four_reports_the_inner_packet_and_the_tunnel() {
    let f = sixinfour_frame();
    let p = decode(LinkType::Ethernet, &f).unwrap();
    assert_eq!(
        p.tunnel,
        Some(Tunnel { src: v4("193.24.227.10"), dst: v4("216.66.86.114"), protocol: 41 })
    );
    let (ip, t) = ip_of(&p);
    assert_eq!(ip.src, v6("2001:470:6c:a1::2"));
    assert_eq!(ip.dst, v6("2001:470:765b::b15:22"));
    assert_eq!((ip.protocol, ip.len), (17, 446));
    let Transport::Udp { sport, dport, payload } = t else { panic!("{t:?}") };
    assert_eq!((sport, dport, payload.len()), (38159, 514, 398));
    assert!(payload.starts_with(b"<133>"));
}

#[test]
fn lldp_cdp_arp() {
    let f = hex(LLDP);
    let p = decode(LinkType::Ethernet, &f).unwrap();
    let Layer3::NonIp(NonIp::Lldp(pdu)) = p.l3 else { panic!("{:?}", p.l3) };
    assert_eq!(pdu.get(..2), Some(&[0x02, 0x07][..])); // chassis ID TLV, length 7
    assert_eq!(p.src_mac, Some([0x00, 0x04, 0x96, 0x1f, 0xa7, 0x26]));

    let f = hex(CDP);
    let p = decode(LinkType::Ethernet, &f).unwrap();
    let Layer3::NonIp(NonIp::Cdp(pdu)) = p.l3 else { panic!("{:?}", p.l3) };
    assert_eq!(pdu.len(), 286 - 8);
    assert_eq!(pdu.get(..2), Some(&[0x01, 0xb4][..])); // version 1, TTL 180
    assert!(pdu.ends_with(b"cisco 1601"));

    let f = hex(ARP);
    let p = decode(LinkType::Ethernet, &f).unwrap();
    assert_eq!(
        p.l3,
        Layer3::NonIp(NonIp::Arp {
            sender_mac: [0x34, 0x36, 0x3b, 0xcf, 0x75, 0x28],
            sender_ip: "10.0.0.227".parse().unwrap(),
            target_ip: "10.0.0.213".parse().unwrap(),
        })
    );
}

#[test]
fn icmp_and_icmpv6_behind_hop_by_hop() {
    let f = hex(ICMP);
    let (ip, t) = ip_of(&decode(LinkType::Ethernet, &f).unwrap());
    assert_eq!((ip.src, ip.dst), (v4("192.168.239.129"), v4("224.0.0.2")));
    assert_eq!(t, Transport::Icmp { kind: 10, code: 0 });

    let f = hex(MLD_HOPOPTS);
    let (ip, t) = ip_of(&decode(LinkType::Ethernet, &f).unwrap());
    assert_eq!((ip.src, ip.dst), (v6("fe80::883c:d6ff:fee1:4dc4"), v6("ff02::16")));
    assert_eq!((ip.protocol, ip.len), (58, 76));
    assert_eq!(t, Transport::Icmpv6 { kind: 143, code: 0 });
}

/// The IPv4 packet inside the BACnet frame (no Ethernet header, no padding).
fn bacnet_ip() -> Vec<u8> {
    hex(BACNET_PADDED).get(14..14 + 45).unwrap().to_vec()
}

fn assert_bacnet(p: &Packet<'_>) {
    let (ip, t) = ip_of(p);
    assert_eq!((ip.src, ip.dst), (v4("65.49.20.98"), v4("90.147.69.219")));
    let Transport::Udp { sport, dport, payload } = t else { panic!("{t:?}") };
    assert_eq!((sport, dport, payload.len()), (53234, 47808, 17));
}

#[test]
fn linux_sll_and_sll2() {
    let mut sll = hex("0000000100066ecd4fa2066d00000800");
    sll.extend(bacnet_ip());
    let p = decode(LinkType::LinuxSll, &sll).unwrap();
    assert_eq!(p.src_mac, Some([0x6e, 0xcd, 0x4f, 0xa2, 0x06, 0x6d]));
    assert_bacnet(&p);

    let mut sll2 = hex("0800000000000002000100066ecd4fa2066d0000");
    assert_eq!(sll2.len(), 20);
    sll2.extend(bacnet_ip());
    let p = decode(LinkType::LinuxSll2, &sll2).unwrap();
    assert_eq!(p.src_mac, Some([0x6e, 0xcd, 0x4f, 0xa2, 0x06, 0x6d]));
    assert_bacnet(&p);
}

#[test]
fn raw_ip_and_bsd_loopback_in_both_byte_orders() {
    assert_bacnet(&decode(LinkType::RawIp, &bacnet_ip()).unwrap());
    for family in [[2, 0, 0, 0], [0, 0, 0, 2]] {
        let mut f = family.to_vec();
        f.extend(bacnet_ip());
        assert_bacnet(&decode(LinkType::Null, &f).unwrap());
    }
    // AF_INET6 as macOS writes it (30), with the MLD packet.
    let mut f = vec![30, 0, 0, 0];
    f.extend(hex(MLD_HOPOPTS).get(14..).unwrap());
    let (ip, _) = ip_of(&decode(LinkType::Null, &f).unwrap());
    assert_eq!(ip.dst, v6("ff02::16"));
    assert_eq!(
        decode(LinkType::RawIp, &[0x50, 0, 0, 0]),
        Err(DecodeError { layer: "raw IP", offset: 0, what: "IP version is neither 4 nor 6" })
    );
}

#[test]
fn mpls_label_stack_then_ipv4() {
    let eth = hex(BACNET_PADDED);
    let mut f = eth.get(..12).unwrap().to_vec();
    f.extend_from_slice(&[0x88, 0x47]);
    f.extend_from_slice(&[0x00, 0x01, 0x00, 0x40]); // label 16, not bottom
    f.extend_from_slice(&[0x00, 0x01, 0x11, 0x40]); // label 17, bottom of stack
    f.extend(bacnet_ip());
    assert_bacnet(&decode(LinkType::Ethernet, &f).unwrap());
}

#[test]
fn ipv4_fragments() {
    // First fragment (MF): ports are there.
    let mut ip = bacnet_ip();
    *ip.get_mut(6).unwrap() = 0x20;
    let p = decode(LinkType::RawIp, &ip).unwrap();
    let (i, t) = ip_of(&p);
    assert!(i.fragment);
    assert!(matches!(t, Transport::Udp { sport: 53234, .. }));
    // A later fragment (offset 1 × 8 bytes): no ports.
    *ip.get_mut(6).unwrap() = 0x00;
    *ip.get_mut(7).unwrap() = 0x01;
    let (i, t) = ip_of(&decode(LinkType::RawIp, &ip).unwrap());
    assert!(i.fragment);
    assert_eq!(t, Transport::Other { protocol: 17 });
}

/// An IPv6 packet with the given extension headers (each `(type, bytes)`,
/// the next-header byte filled in) and a final UDP datagram.
fn ipv6_with_ext(exts: &[(u8, Vec<u8>)], last: u8, l4: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    for (i, (_, bytes)) in exts.iter().enumerate() {
        let next = exts.get(i + 1).map_or(last, |e| e.0);
        let mut b = bytes.clone();
        *b.get_mut(0).unwrap() = next;
        body.extend(b);
    }
    body.extend_from_slice(l4);
    let mut f = vec![0x60, 0, 0, 0];
    f.extend_from_slice(&(body.len() as u16).to_be_bytes());
    f.push(exts.first().map_or(last, |e| e.0));
    f.push(64);
    f.extend(v6_bytes("2001:db8::1"));
    f.extend(v6_bytes("2001:db8::2"));
    f.extend(body);
    f
}

fn v6_bytes(s: &str) -> [u8; 16] {
    s.parse::<Ipv6Addr>().unwrap().octets()
}

const UDP_DNS: [u8; 12] = [0x30, 0x39, 0x00, 0x35, 0x00, 0x0c, 0x00, 0x00, 0xde, 0xad, 0xbe, 0xef];

#[test]
fn ipv6_extension_headers_are_walked() {
    let hbh = vec![0, 0, 1, 4, 0, 0, 0, 0]; // PadN
    let routing = vec![0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]; // len 2 → 24 bytes
    let frag_first = vec![0, 0, 0x00, 0x01, 0x12, 0x34, 0x56, 0x78]; // offset 0, M=1
    let dst = vec![0, 0, 1, 4, 0, 0, 0, 0];
    let ah = vec![0, 4, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]; // (4+2)*4 = 24
    let f = ipv6_with_ext(
        &[(0, hbh), (43, routing), (44, frag_first), (60, dst), (51, ah)],
        17,
        &UDP_DNS,
    );
    let (ip, t) = ip_of(&decode(LinkType::RawIp, &f).unwrap());
    assert_eq!((ip.protocol, ip.fragment, ip.truncated), (17, true, false));
    assert_eq!(ip.len as usize, f.len());
    assert_eq!(t, Transport::Udp { sport: 12345, dport: 53, payload: &[0xde, 0xad, 0xbe, 0xef] });

    // A non-first fragment: the transport header is not in it.
    let frag_later = vec![0, 0, 0x00, 0x11, 0, 0, 0, 1]; // offset 2 (× 8), M=1
    let f = ipv6_with_ext(&[(44, frag_later)], 17, &UDP_DNS);
    let (ip, t) = ip_of(&decode(LinkType::RawIp, &f).unwrap());
    assert!(ip.fragment);
    assert_eq!(t, Transport::Other { protocol: 17 });

    // An extension header whose length runs past the packet.
    let f = ipv6_with_ext(&[(60, vec![0, 9, 0, 0, 0, 0, 0, 0])], 17, &UDP_DNS);
    assert_eq!(
        decode(LinkType::RawIp, &f),
        Err(DecodeError {
            layer: "IPv6 extension header",
            offset: 41,
            what: "length runs past the packet"
        })
    );

    // Nine extension headers: refused, bounded.
    let nine: Vec<(u8, Vec<u8>)> = (0..9).map(|_| (60, vec![0, 0, 1, 4, 0, 0, 0, 0])).collect();
    let f = ipv6_with_ext(&nine, 17, &UDP_DNS);
    assert_eq!(decode(LinkType::RawIp, &f).unwrap_err().what, "more than 8 extension headers");
}

#[test]
fn corrupt_headers_name_layer_offset_and_problem() {
    // IHL 4.
    let mut f = hex(VNC_PADDED);
    *f.get_mut(14).unwrap() = 0x44;
    assert_eq!(
        decode(LinkType::Ethernet, &f),
        Err(DecodeError { layer: "IPv4", offset: 14, what: "header length (IHL) below 5" })
    );
    // Total length below the header.
    let mut f = hex(VNC_PADDED);
    *f.get_mut(17).unwrap() = 10;
    assert_eq!(
        decode(LinkType::Ethernet, &f).unwrap_err().what,
        "total length smaller than the header"
    );
    // TCP data offset 4.
    let mut f = hex(VNC_PADDED);
    *f.get_mut(14 + 20 + 12).unwrap() = 0x40;
    assert_eq!(
        decode(LinkType::Ethernet, &f),
        Err(DecodeError { layer: "TCP", offset: 46, what: "data offset below 5" })
    );
    // TCP data offset 15 words in a 21-byte segment.
    *f.get_mut(14 + 20 + 12).unwrap() = 0xf0;
    assert_eq!(
        decode(LinkType::Ethernet, &f).unwrap_err().what,
        "data offset runs past the IP packet"
    );
    // UDP length 7.
    let mut f = hex(BACNET_PADDED);
    *f.get_mut(14 + 20 + 5).unwrap() = 7;
    assert_eq!(
        decode(LinkType::Ethernet, &f),
        Err(DecodeError { layer: "UDP", offset: 38, what: "length below 8" })
    );
    // Short Ethernet header.
    assert_eq!(decode(LinkType::Ethernet, &[0; 13]).unwrap_err().layer, "Ethernet");
    // The error message carries all three facts.
    let e = decode(LinkType::Ethernet, &[0; 13]).unwrap_err();
    assert_eq!(e.to_string(), "Ethernet at frame offset 0: header truncated (14 bytes)");
}

/// The real frames with where their (outermost) IP packet ends, from the
/// stated lengths (None: not IP).
fn all_real_frames() -> Vec<(LinkType, Vec<u8>, Option<usize>)> {
    let mut sll2 = hex("0800000000000002000100066ecd4fa2066d0000");
    sll2.extend(bacnet_ip());
    vec![
        (LinkType::Ethernet, hex(VNC_PADDED), Some(14 + 41)),
        (LinkType::Ethernet, hex(BACNET_PADDED), Some(14 + 45)),
        (LinkType::Ethernet, hex(SYSLOG_VLAN), Some(18 + 143)),
        (LinkType::Ethernet, hex(SYN_VLAN), Some(18 + 64)),
        (LinkType::Ethernet, hex(LLDP), None),
        (LinkType::Ethernet, hex(CDP), None),
        (LinkType::Ethernet, hex(ARP), None),
        (LinkType::Ethernet, hex(MLD_HOPOPTS), Some(14 + 40 + 36)),
        (LinkType::Ethernet, hex(ICMP), Some(14 + 28)),
        (LinkType::Ethernet, pppoe_frame(), Some(14 + 8 + 681)),
        (LinkType::Ethernet, sixinfour_frame(), Some(14 + 466)),
        (LinkType::RawIp, bacnet_ip(), Some(45)),
        (LinkType::LinuxSll2, sll2, Some(20 + 45)),
    ]
}

#[test]
fn every_prefix_is_an_error_or_a_flagged_truncation() {
    for (link, f, end) in all_real_frames() {
        let full = decode(link, &f).unwrap();
        for n in 0..f.len() {
            let prefix = f.get(..n).unwrap();
            let got = decode(link, prefix);
            match (end, got) {
                // Only padding removed: the same answer.
                (Some(end), got) if n >= end => assert_eq!(got, Ok(full), "{link:?} prefix {n}"),
                // Inside the IP packet: an error, or an answer that says it
                // was cut (and whose payload is a prefix of the full one).
                (Some(_), Ok(p)) => {
                    let (ip, _) = ip_of(&p);
                    assert!(ip.truncated, "{link:?} prefix {n} decoded as complete: {p:?}");
                }
                (Some(_), Err(_)) => {}
                // Non-IP frames: an error, or a PDU cut at the prefix.
                (None, Ok(p)) => match p.l3 {
                    Layer3::NonIp(NonIp::Lldp(b) | NonIp::Cdp(b)) => assert!(b.len() < n),
                    other => panic!("{link:?} prefix {n}: {other:?}"),
                },
                (None, Err(_)) => {}
            }
        }
    }
}

#[test]
fn frames_cut_in_the_header_are_errors() {
    // Every cut before the end of the TCP header (14 + 20 + 20).
    let f = hex(VNC_PADDED);
    for n in 0..54 {
        let e = decode(LinkType::Ethernet, f.get(..n).unwrap()).unwrap_err();
        let layer = match n {
            0..14 => "Ethernet",
            14..34 => "IPv4",
            _ => "TCP",
        };
        assert_eq!(e.layer, layer, "prefix {n}: {e}");
    }
    // Cut in the payload: decoded, flagged, payload cut.
    let p = decode(LinkType::Ethernet, f.get(..54).unwrap()).unwrap();
    let (ip, t) = ip_of(&p);
    assert!(ip.truncated);
    assert!(matches!(t, Transport::Tcp { payload: &[], .. }));
}

const LINKS: [LinkType; 5] =
    [LinkType::Ethernet, LinkType::RawIp, LinkType::LinuxSll, LinkType::LinuxSll2, LinkType::Null];

fn payload_within<'a>(p: &Packet<'a>, f: &[u8]) {
    let range = f.as_ptr_range();
    let inside = |b: &[u8]| b.is_empty() || (range.contains(&b.as_ptr()) && b.len() <= f.len());
    match p.l3 {
        Layer3::Ip {
            transport: Transport::Tcp { payload, .. } | Transport::Udp { payload, .. },
            ..
        } => {
            assert!(inside(payload))
        }
        Layer3::NonIp(NonIp::Lldp(b) | NonIp::Cdp(b)) => assert!(inside(b)),
        _ => {}
    }
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200), l in 0usize..5) {
        let link = LINKS[l];
        if let Ok(p) = decode(link, &bytes) {
            payload_within(&p, &bytes);
        }
    }

    #[test]
    fn mutated_real_frames_never_panic(i in 0usize..13, flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6)) {
        let frames = all_real_frames();
        let (link, mut f, _) = frames.get(i % frames.len()).unwrap().clone();
        let len = f.len();
        for (at, v) in flips {
            if let Some(b) = f.get_mut(at % len) {
                *b = v;
            }
        }
        if let Ok(p) = decode(link, &f) {
            payload_within(&p, &f);
        }
    }
}
