//! The format variants no shared capture has, written by hand: big-endian
//! and nanosecond pcap, "modified" pcap, big-endian pcapng, several
//! sections, timestamp resolutions and offsets, simple and obsolete packet
//! blocks, unknown blocks, and damaged files; reading in regions gives
//! what one reader gives; arbitrary bytes never panic.

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

/// What a reader yields, in order: packets, and problems (offset, whether
/// fatal, message); reading ends at the end or at a fatal problem.
type Events = Vec<Result<(Timestamp, u32, u32, Vec<u8>), (u64, bool, String)>>;

fn push(
    out: &mut Events,
    r: Result<Option<sekimori_capture::file::RawPacket<'_>>, sekimori_capture::file::CaptureError>,
) -> bool {
    match r {
        Ok(Some(p)) => {
            out.push(Ok((p.ts, p.interface, p.origlen, p.data.to_vec())));
            true
        }
        Ok(None) => false,
        Err(e) => {
            let fatal = e.what.is_fatal();
            out.push(Err((e.offset, fatal, e.what.to_string())));
            !fatal
        }
    }
}

fn events_whole(bytes: &[u8]) -> Events {
    let mut out = Events::new();
    match CaptureFile::from_reader("mem", Cursor::new(bytes.to_vec())) {
        Ok(mut f) => while push(&mut out, f.next_packet()) {},
        Err(e) => out.push(Err((e.offset, true, e.what.to_string()))),
    }
    out
}

/// Reads `bytes` as the sensor's region workers do: `size` bytes at a
/// time, each region's reader resuming where the previous one stopped and
/// reading on (from a reader positioned after its bytes) only to finish
/// its last record.
fn events_in_regions(bytes: &[u8], size: usize) -> Events {
    let mut out = Events::new();
    let mut from = None;
    let len = bytes.len() as u64;
    let mut base = 0usize;
    while base < bytes.len() || base == 0 {
        let end = (base + size).min(bytes.len());
        let mut src = Cursor::new(bytes);
        src.set_position(end as u64);
        let buf = bytes[base..end].to_vec();
        let mut f =
            match CaptureFile::region("mem", src, buf, base as u64, from.as_ref(), end as u64, len)
            {
                Ok(f) => f,
                Err(e) => {
                    out.push(Err((e.offset, true, e.what.to_string())));
                    return out;
                }
            };
        loop {
            let r = f.next_packet();
            let fatal = matches!(&r, Err(e) if e.what.is_fatal());
            if !push(&mut out, r) {
                if fatal {
                    return out;
                }
                break;
            }
        }
        from = Some(f.resume());
        base = end;
        if end == bytes.len() {
            break;
        }
    }
    out
}

fn assert_regions_agree(name: &str, bytes: &[u8]) {
    let small: &[usize] = if bytes.len() < 1 << 20 { &[1, 3, 16, 100] } else { &[1000] };
    let whole = events_whole(bytes);
    for &size in small.iter().chain(&[1500, 4096, 65_536, 1 << 20, 3 << 20, usize::MAX / 2]) {
        let parts = events_in_regions(bytes, size);
        assert!(whole == parts, "{name}: regions of {size} bytes differ from one read");
    }
}

#[test]
fn regions_read_the_same_packets_and_problems_as_one_reader() {
    let frame = |i: u32| (0..(i * 37) % 1501).map(|k| (k ^ i) as u8).collect::<Vec<u8>>();
    let mut p = Pcap::new(false, 0xa1b2_c3d4, 1);
    for i in 0..400 {
        p.record(i, 7, &frame(i), 2000);
    }
    assert_regions_agree("pcap", &p.out);
    let mut m = Pcap::new(true, 0xa1b2_cd34, 101);
    for i in 0..50 {
        let data = frame(i);
        for v in [i, 7, data.len() as u32, 2000, 0, 0] {
            m.u32(v); // the modified format's header has 8 more bytes
        }
        m.out.extend(data);
    }
    assert_regions_agree("modified pcap", &m.out);
    // Truncated in a record, and in a record header.
    let cut = p.out.len() - 700;
    assert_regions_agree("truncated pcap", &p.out[..cut]);
    assert_regions_agree("pcap cut in a header", &p.out[..24 + 16 + 37 + 16 + 3]);
    assert_regions_agree("pcap cut in the file header", &p.out[..10]);

    // pcapng: sections, interfaces, a simple packet block (the previous
    // timestamp carries across regions), unknown blocks small and larger
    // than a region, problems that skip one packet.
    let mut ng = Ng { big: false, out: Vec::new() };
    ng.shb();
    ng.idb(1, &[(9, vec![9])]);
    ng.idb(147, &[]);
    for i in 0..300u32 {
        ng.epb(0, u64::from(i) * 1000, &frame(i), 1500);
        match i {
            10 => ng.block(0x0bad, b"small unknown"),
            20 => ng.block(0x0bad, &vec![7; 200_000]),
            30 => ng.epb(1, 1, b"user0", 5),
            40 => ng.epb(9, 1, b"no such interface", 17),
            50 => {
                let mut spb = ng.b32(7).to_vec();
                spb.extend(b"simple!");
                ng.block(3, &spb);
            }
            60 => {
                let mut be = Ng { big: true, out: Vec::new() };
                be.shb();
                be.idb(1, &[]);
                ng.out.extend(be.out);
                ng.big = true;
            }
            _ => {}
        }
    }
    let simple = events_whole(&ng.out).into_iter().flatten().find(|p| p.3 == b"simple!");
    assert_eq!(simple.map(|p| p.0), Some(Timestamp(50_000)), "the simple packet's time");
    assert_regions_agree("pcapng", &ng.out);

    // Larger than the whole-file reader's 2 MiB buffer: records split
    // across its refills; an unknown block larger than it (skipped
    // through refills), and a packet of the largest captured length.
    let mut p = Pcap::new(false, 0xa1b2_c3d4, 1);
    for i in 0..4000 {
        p.record(i, 7, &frame(i), 2000);
    }
    assert!(p.out.len() > 2 << 20);
    assert_eq!(events_whole(&p.out).len(), 4000);
    assert_regions_agree("large pcap", &p.out);
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
    assert_eq!(events_whole(&ng.out).len(), 3001);
    assert_regions_agree("large pcapng", &ng.out);
    let cut = ng.out.len() - 900;
    assert_regions_agree("truncated pcapng", &ng.out[..cut]);
    // Cut inside the large unknown block: the skip runs past the end.
    let big_at = ng.out.windows(4).position(|w| w == [7, 7, 7, 7]).unwrap_or(0);
    assert_regions_agree("pcapng cut in an unknown block", &ng.out[..big_at + 1000]);
}

proptest! {
    #[test]
    fn regions_agree_on_arbitrary_bytes(
        bytes in proptest::collection::vec(any::<u8>(), 0..400),
        pcapng in any::<bool>(),
        size in 1usize..64,
    ) {
        // A valid header first, so the records are what is arbitrary.
        let mut file = if pcapng {
            let mut ng = Ng { big: false, out: Vec::new() };
            ng.shb();
            ng.idb(1, &[]);
            ng.out
        } else {
            Pcap::new(false, 0xa1b2_c3d4, 1).out
        };
        file.extend(bytes);
        let whole = events_whole(&file);
        prop_assert!(whole == events_in_regions(&file, size));
    }
}
