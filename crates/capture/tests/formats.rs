//! The format variants no shared capture has, written by hand: big-endian
//! and nanosecond pcap, "modified" pcap, big-endian pcapng, several
//! sections, timestamp resolutions and offsets, simple and obsolete packet
//! blocks, unknown blocks, and damaged files; shared read buffers lend
//! the same packets; arbitrary bytes never panic.

use std::io::Cursor;

use proptest::prelude::*;
use sekimori_capture::Timestamp;
use sekimori_capture::file::{CaptureFile, Format, Problem};
use sekimori_proto::packet::LinkType;

fn read_all(bytes: &[u8]) -> Vec<(Timestamp, LinkType, u32, u32, Vec<u8>)> {
    let mut f = CaptureFile::from_reader("mem.pcap", Cursor::new(bytes.to_vec())).unwrap();
    let mut out = Vec::new();
    while let Some(p) = f.next_packet().unwrap() {
        out.push((p.ts, p.link, p.interface, p.origlen, p.data.to_vec()));
    }
    out
}

struct Pcap {
    big: bool,
    out: Vec<u8>,
}

impl Pcap {
    fn new(big: bool, magic: u32, link: u32) -> Pcap {
        let mut p = Pcap { big, out: Vec::new() };
        p.u32(magic);
        p.u16(2);
        p.u16(4);
        p.u32(0);
        p.u32(0);
        p.u32(65535);
        p.u32(link);
        p
    }
    fn u16(&mut self, v: u16) {
        self.out.extend(if self.big { v.to_be_bytes() } else { v.to_le_bytes() });
    }
    fn u32(&mut self, v: u32) {
        self.out.extend(if self.big { v.to_be_bytes() } else { v.to_le_bytes() });
    }
    fn record(&mut self, sec: u32, frac: u32, data: &[u8], origlen: u32) {
        self.u32(sec);
        self.u32(frac);
        self.u32(data.len() as u32);
        self.u32(origlen);
        self.out.extend_from_slice(data);
    }
}

#[test]
fn pcap_big_endian_nanoseconds() {
    let mut p = Pcap::new(true, 0xa1b2_3c4d, 101);
    p.record(1_700_000_000, 123_456_789, &[0x45, 0, 0, 20], 60);
    p.record(1_700_000_001, 5, b"abc", 3);
    let f = CaptureFile::from_reader("be.pcap", Cursor::new(p.out.clone())).unwrap();
    assert_eq!(f.format(), Format::Pcap { big_endian: true, nanos: true });
    let got = read_all(&p.out);
    assert_eq!(
        got,
        vec![
            (Timestamp(1_700_000_000_123_456_789), LinkType::RawIp, 0, 60, vec![0x45, 0, 0, 20]),
            (Timestamp(1_700_000_001_000_000_005), LinkType::RawIp, 0, 3, b"abc".to_vec()),
        ]
    );
}

#[test]
fn pcap_little_endian_micro_and_modified() {
    let mut p = Pcap::new(false, 0xa1b2_c3d4, 113);
    p.record(10, 999_999, b"xy", 2);
    assert_eq!(
        read_all(&p.out),
        vec![(Timestamp(10_999_999_000), LinkType::LinuxSll, 0, 2, b"xy".to_vec())]
    );

    // Modified pcap: 8 more bytes per record header (ifindex, protocol,
    // packet type, padding).
    let mut p = Pcap::new(false, 0xa1b2_cd34, 1);
    p.u32(10);
    p.u32(1);
    p.u32(2);
    p.u32(2);
    p.out.extend_from_slice(&[9; 8]);
    p.out.extend_from_slice(b"zz");
    assert_eq!(
        read_all(&p.out),
        vec![(Timestamp(10_000_001_000), LinkType::Ethernet, 0, 2, b"zz".to_vec())]
    );
}

#[test]
fn pcap_limits() {
    // A captured length over 256 KiB.
    let mut p = Pcap::new(false, 0xa1b2_c3d4, 1);
    p.u32(0);
    p.u32(0);
    p.u32(300_000);
    p.u32(300_000);
    let mut f = CaptureFile::from_reader("big.pcap", Cursor::new(p.out)).unwrap();
    let e = f.next_packet().unwrap_err();
    assert_eq!(e.offset, 24);
    assert!(matches!(e.what, Problem::CaplenTooLarge { caplen: 300_000, cap: 262_144 }), "{e}");
    // A link type we do not decode.
    let p = Pcap::new(false, 0xa1b2_c3d4, 147);
    let e = CaptureFile::from_reader("user0.pcap", Cursor::new(p.out)).unwrap_err();
    assert_eq!(e.offset, 20);
    assert!(matches!(e.what, Problem::UnknownLinkType(147)), "{e}");
}

/// A pcapng writer in one byte order.
struct Ng {
    big: bool,
    out: Vec<u8>,
}

impl Ng {
    fn b16(&self, v: u16) -> [u8; 2] {
        if self.big { v.to_be_bytes() } else { v.to_le_bytes() }
    }
    fn b32(&self, v: u32) -> [u8; 4] {
        if self.big { v.to_be_bytes() } else { v.to_le_bytes() }
    }
    fn block(&mut self, ty: u32, body: &[u8]) {
        let mut body = body.to_vec();
        while !body.len().is_multiple_of(4) {
            body.push(0);
        }
        let len = body.len() as u32 + 12;
        let (t, l) = (self.b32(ty), self.b32(len));
        self.out.extend(t);
        self.out.extend(l);
        self.out.extend(body);
        self.out.extend(l);
    }
    fn shb(&mut self) {
        let mut b = self.b32(0x1a2b_3c4d).to_vec();
        b.extend(self.b16(1));
        b.extend(self.b16(0));
        b.extend((-1i64).to_le_bytes());
        self.block(0x0a0d_0d0a, &b);
    }
    fn idb(&mut self, link: u16, opts: &[(u16, Vec<u8>)]) {
        let mut b = self.b16(link).to_vec();
        b.extend([0, 0]);
        b.extend(self.b32(0));
        for (code, v) in opts {
            b.extend(self.b16(*code));
            b.extend(self.b16(v.len() as u16));
            b.extend(v);
            while !b.len().is_multiple_of(4) {
                b.push(0);
            }
        }
        b.extend([0, 0, 0, 0]);
        self.block(1, &b);
    }
    fn epb(&mut self, iface: u32, ticks: u64, data: &[u8], origlen: u32) {
        let mut b = self.b32(iface).to_vec();
        b.extend(self.b32((ticks >> 32) as u32));
        b.extend(self.b32(ticks as u32));
        b.extend(self.b32(data.len() as u32));
        b.extend(self.b32(origlen));
        b.extend(data);
        self.block(6, &b);
    }
}

#[test]
fn pcapng_sections_byte_orders_resolutions_and_block_kinds() {
    // Section 1, big-endian: Ethernet with nanosecond resolution.
    let mut ng = Ng { big: true, out: Vec::new() };
    ng.shb();
    ng.idb(1, &[(9, vec![9])]);
    ng.block(0x0bad, b"unknown block, skipped");
    ng.epb(0, 1_700_000_000_000_000_001, b"first", 100);
    // Simple packet block: origlen 7, the data padded to 8.
    let mut spb = ng.b32(7).to_vec();
    spb.extend(b"simple!");
    ng.block(3, &spb);
    // Section 2, little-endian: raw IP in milliseconds with a 100 s
    // offset, and Linux SLL with 2^-10 s resolution.
    let mut le = Ng { big: false, out: Vec::new() };
    le.shb();
    le.idb(101, &[(9, vec![3]), (14, 100i64.to_le_bytes().to_vec())]);
    le.idb(113, &[(9, vec![0x80 | 10])]);
    le.epb(1, 1024 * 5 + 512, b"sll", 3);
    // Obsolete packet block on interface 0: id(2) drops(2) ts caplen origlen.
    let mut pb = 0u16.to_le_bytes().to_vec();
    pb.extend(0u16.to_le_bytes());
    pb.extend(0u32.to_le_bytes());
    pb.extend(1500u32.to_le_bytes());
    pb.extend(2u32.to_le_bytes());
    pb.extend(2u32.to_le_bytes());
    pb.extend(b"pb");
    le.block(2, &pb);
    ng.out.extend(le.out);

    let got = read_all(&ng.out);
    assert_eq!(
        got,
        vec![
            (Timestamp(1_700_000_000_000_000_001), LinkType::Ethernet, 0, 100, b"first".to_vec()),
            // No timestamp in a simple packet block: the previous one.
            (Timestamp(1_700_000_000_000_000_001), LinkType::Ethernet, 0, 7, b"simple!".to_vec()),
            (Timestamp(5_500_000_000), LinkType::LinuxSll, 1, 3, b"sll".to_vec()),
            (Timestamp(101_500_000_000), LinkType::RawIp, 0, 2, b"pb".to_vec()),
        ]
    );
}

/// Reads with shared buffers as the sensor's reader does: packets found
/// by `data_at` in the buffer retired after them (or the last one), every
/// other retired buffer given back as the spare. Returns them and how many
/// buffers were retired.
fn read_shared(bytes: &[u8]) -> (Vec<(Timestamp, u32, Vec<u8>)>, usize) {
    let mut f = CaptureFile::from_reader("mem", Cursor::new(bytes.to_vec())).unwrap();
    f.share_buffers();
    let (mut out, mut pending, mut retired) = (Vec::new(), Vec::new(), 0);
    let take = |buf: &[u8], pending: &mut Vec<(Timestamp, u32, usize, usize)>, out: &mut Vec<_>| {
        for (ts, origlen, at, len) in pending.drain(..) {
            out.push((ts, origlen, buf[at..at + len].to_vec()));
        }
    };
    loop {
        let next = f.next_packet().unwrap().map(|p| (p.ts, p.origlen, p.data.len()));
        if let Some(buf) = f.take_retired() {
            retired += 1;
            take(&buf, &mut pending, &mut out);
            if retired % 2 == 0 {
                f.give_spare(buf);
            }
        }
        let Some((ts, origlen, len)) = next else { break };
        pending.push((ts, origlen, f.data_at(), len));
    }
    take(&f.into_buffer(), &mut pending, &mut out);
    (out, retired)
}

#[test]
fn shared_buffers_lend_the_same_packets_across_refills() {
    // ~7 MB of packets of every length up to 1500 bytes: several 2 MiB
    // refills, records split across them.
    let frame = |i: u32| (0..(i * 37) % 1501).map(|k| (k ^ i) as u8).collect::<Vec<u8>>();
    let mut p = Pcap::new(false, 0xa1b2_c3d4, 1);
    for i in 0..9000 {
        p.record(i, 7, &frame(i), 2000);
    }
    let plain: Vec<_> = read_all(&p.out).into_iter().map(|(t, _, _, o, d)| (t, o, d)).collect();
    let (shared, retired) = read_shared(&p.out);
    assert_eq!(plain.len(), 9000);
    assert!(retired >= 3, "{retired}");
    assert!(shared == plain, "pcap packets differ with shared buffers");

    // pcapng: packets, an unknown block larger than the buffer (skipped
    // through refills), and a packet of the largest captured length.
    let mut ng = Ng { big: false, out: Vec::new() };
    ng.shb();
    ng.idb(1, &[]);
    for i in 0..3000 {
        ng.epb(0, u64::from(i) * 1000, &frame(i), 1500);
        if i == 1000 {
            ng.block(0x0bad, &vec![7; 3 << 20]);
        }
    }
    ng.epb(0, 5, &vec![1; 256 * 1024], 256 * 1024);
    let plain: Vec<_> = read_all(&ng.out).into_iter().map(|(t, _, _, o, d)| (t, o, d)).collect();
    let (shared, retired) = read_shared(&ng.out);
    assert_eq!(plain.len(), 3001);
    assert!(retired >= 2, "{retired}");
    assert!(shared == plain, "pcapng packets differ with shared buffers");
}

#[test]
fn pcapng_packet_problems_skip_one_packet_and_go_on() {
    let mut ng = Ng { big: false, out: Vec::new() };
    ng.shb();
    ng.idb(147, &[]); // USER0: we cannot decode it
    ng.idb(1, &[]);
    ng.epb(0, 1, b"user0", 5);
    ng.epb(7, 1, b"no such interface", 17);
    ng.epb(1, 2_000_000, b"eth", 3);
    let mut f = CaptureFile::from_reader("mixed.pcapng", Cursor::new(ng.out)).unwrap();
    let e = f.next_packet().unwrap_err();
    assert!(matches!(e.what, Problem::UnknownLinkType(147)), "{e}");
    assert!(!e.what.is_fatal());
    assert_eq!(e.offset, 28 + 24 + 24); // SHB, two IDBs
    let e = f.next_packet().unwrap_err();
    assert!(matches!(e.what, Problem::UnknownInterface { id: 7, count: 2 }), "{e}");
    let p = f.next_packet().unwrap().unwrap();
    assert_eq!((p.ts, p.data), (Timestamp(2_000_000_000), &b"eth"[..]));
    assert!(f.next_packet().unwrap().is_none());
}

#[test]
fn pcapng_damage_is_fatal_with_the_offset() {
    // Trailing length differs from the leading one.
    let mut ng = Ng { big: false, out: Vec::new() };
    ng.shb();
    ng.idb(1, &[]);
    ng.epb(0, 1, b"ok", 2);
    let at = ng.out.len();
    ng.epb(0, 1, b"bad", 3);
    let last = ng.out.len() - 1;
    ng.out[last] ^= 0x01;
    ng.out[last - 3] ^= 0x04;
    let mut f = CaptureFile::from_reader("bad.pcapng", Cursor::new(ng.out.clone())).unwrap();
    assert!(f.next_packet().unwrap().is_some());
    let e = f.next_packet().unwrap_err();
    assert!(matches!(e.what, Problem::BlockLengthMismatch { len: 36, .. }), "{e}");
    assert_eq!(e.offset, (at + 32) as u64);
    assert!(e.what.is_fatal());
    assert!(f.next_packet().unwrap().is_none());

    // A block length that is not a multiple of 4.
    let mut ng = Ng { big: false, out: Vec::new() };
    ng.shb();
    ng.out.extend(6u32.to_le_bytes());
    ng.out.extend(13u32.to_le_bytes());
    let mut f = CaptureFile::from_reader("odd.pcapng", Cursor::new(ng.out)).unwrap();
    let e = f.next_packet().unwrap_err();
    assert!(matches!(e.what, Problem::BadBlockLength(13)), "{e}");
    assert_eq!(e.offset, 28 + 4);
}

fn drain(bytes: Vec<u8>) {
    let Ok(mut f) = CaptureFile::from_reader("fuzz", Cursor::new(bytes)) else { return };
    // Each call consumes at least one block or ends: bounded.
    for _ in 0..100_000 {
        match f.next_packet() {
            Ok(Some(p)) => assert_eq!(p.data.len(), p.caplen as usize),
            Ok(None) => return,
            Err(e) if e.what.is_fatal() => {
                assert!(f.next_packet().unwrap().is_none());
                return;
            }
            Err(_) => {}
        }
    }
    panic!("reader did not end");
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        drain(bytes);
    }

    #[test]
    fn arbitrary_bytes_after_a_valid_header_never_panic(
        ng in any::<bool>(),
        tail in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        let mut bytes = if ng {
            let mut w = Ng { big: false, out: Vec::new() };
            w.shb();
            w.idb(1, &[]);
            w.out
        } else {
            Pcap::new(false, 0xa1b2_c3d4, 1).out
        };
        bytes.extend(tail);
        drain(bytes);
    }

    #[test]
    fn damaged_real_captures_never_panic(
        which in 0usize..3,
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
        cut in any::<usize>(),
    ) {
        let name = ["gen_hl7_mllp_adt_oru.pcap", "ndpi_bacnet.pcap", "ndpi_wireguard.pcap"][which];
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/pcaps").join(name);
        let mut bytes = std::fs::read(path).unwrap();
        let len = bytes.len();
        for (at, v) in flips {
            bytes[at % len] = v;
        }
        bytes.truncate(cut % (len + 1));
        drain(bytes);
    }
}
