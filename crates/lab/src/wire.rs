//! Frames on the wire: Ethernet II, IPv4 (DF, incrementing IDs, header
//! checksum), TCP (options on SYNs) and UDP with correct lengths and
//! checksums, ESP; written as classic pcap records.
//!
//! One frame buffer is reused for every packet: a transport header is
//! written, the caller appends the payload in place, and
//! [`Frame::finish`] fills in lengths and checksums. Nothing is allocated
//! per packet.

use std::io::{self, Write};

/// Who sends a frame and to whom, at layers 2 and 3.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct L3 {
    pub src_mac: [u8; 6],
    pub dst_mac: [u8; 6],
    pub src: [u8; 4],
    pub dst: [u8; 4],
    pub ttl: u8,
}

/// TCP flag bits.
pub mod flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
}

/// Options of a SYN and SYN-ACK: MSS 1460, SACK permitted, window scale 7.
pub const SYN_OPTIONS: [u8; 12] = [2, 4, 0x05, 0xb4, 1, 3, 3, 7, 1, 1, 4, 2];

/// Shortest Ethernet frame without its FCS (shorter ones are padded).
const MIN_FRAME: usize = 60;
const ETH: usize = 14;
const IP: usize = 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Tcp,
    Udp,
    Esp,
}

/// The reusable frame under construction.
#[derive(Debug)]
pub struct Frame {
    buf: Vec<u8>,
    kind: Kind,
    l4: usize,
}

impl Default for Frame {
    fn default() -> Self {
        Frame::new()
    }
}

impl Frame {
    /// An empty frame buffer (64 KiB, enough for any IPv4 packet).
    pub fn new() -> Frame {
        Frame { buf: Vec::with_capacity(65_600), kind: Kind::Udp, l4: ETH + IP }
    }

    fn ip_header(&mut self, l3: &L3, proto: u8, ip_id: u16) {
        self.buf.clear();
        self.buf.extend_from_slice(&l3.dst_mac);
        self.buf.extend_from_slice(&l3.src_mac);
        self.buf.extend_from_slice(&[0x08, 0x00]);
        let [i0, i1] = ip_id.to_be_bytes();
        // Version/IHL, DSCP, total length (filled in), ID, DF, TTL, proto,
        // checksum (filled in), addresses.
        self.buf.extend_from_slice(&[0x45, 0, 0, 0, i0, i1, 0x40, 0, l3.ttl, proto, 0, 0]);
        self.buf.extend_from_slice(&l3.src);
        self.buf.extend_from_slice(&l3.dst);
        self.l4 = ETH + IP;
    }

    /// Starts a TCP segment; append the payload to the returned buffer.
    #[allow(clippy::too_many_arguments, reason = "the TCP header's own fields")]
    pub fn tcp(
        &mut self,
        l3: &L3,
        ip_id: u16,
        ports: (u16, u16),
        seq: u32,
        ack: u32,
        fl: u8,
        window: u16,
        options: &[u8],
    ) -> &mut Vec<u8> {
        self.ip_header(l3, 6, ip_id);
        self.kind = Kind::Tcp;
        let off = ((20 + options.len()) / 4) as u8;
        self.buf.extend_from_slice(&ports.0.to_be_bytes());
        self.buf.extend_from_slice(&ports.1.to_be_bytes());
        self.buf.extend_from_slice(&seq.to_be_bytes());
        self.buf.extend_from_slice(&ack.to_be_bytes());
        self.buf.extend_from_slice(&[off << 4, fl]);
        self.buf.extend_from_slice(&window.to_be_bytes());
        self.buf.extend_from_slice(&[0, 0, 0, 0]);
        self.buf.extend_from_slice(options);
        &mut self.buf
    }

    /// Starts a UDP datagram; append the payload to the returned buffer.
    pub fn udp(&mut self, l3: &L3, ip_id: u16, sport: u16, dport: u16) -> &mut Vec<u8> {
        self.ip_header(l3, 17, ip_id);
        self.kind = Kind::Udp;
        self.buf.extend_from_slice(&sport.to_be_bytes());
        self.buf.extend_from_slice(&dport.to_be_bytes());
        self.buf.extend_from_slice(&[0, 0, 0, 0]);
        &mut self.buf
    }

    /// Starts an ESP packet (SPI, sequence number); append the encrypted
    /// part to the returned buffer.
    pub fn esp(&mut self, l3: &L3, ip_id: u16, spi: u32, seq: u32) -> &mut Vec<u8> {
        self.ip_header(l3, 50, ip_id);
        self.kind = Kind::Esp;
        self.buf.extend_from_slice(&spi.to_be_bytes());
        self.buf.extend_from_slice(&seq.to_be_bytes());
        &mut self.buf
    }

    /// Fills in lengths and checksums, pads to the Ethernet minimum, and
    /// returns the frame.
    pub fn finish(&mut self) -> &[u8] {
        let ip_len = (self.buf.len() - ETH) as u16;
        set16(&mut self.buf, ETH + 2, ip_len);
        let hsum = fold(sum(self.buf.get(ETH..ETH + IP).unwrap_or(&[])));
        set16(&mut self.buf, ETH + 10, hsum);
        let l4_len = self.buf.len() - self.l4;
        let csum_at = match self.kind {
            Kind::Tcp => Some(self.l4 + 16),
            Kind::Udp => {
                set16(&mut self.buf, self.l4 + 4, l4_len as u16);
                Some(self.l4 + 6)
            }
            Kind::Esp => None,
        };
        if let Some(at) = csum_at {
            let proto = if self.kind == Kind::Tcp { 6u64 } else { 17 };
            // Pseudo-header: addresses, protocol, transport length.
            let pseudo =
                sum(self.buf.get(ETH + 12..ETH + 20).unwrap_or(&[])) + proto + l4_len as u64;
            let mut c = fold(pseudo + sum(self.buf.get(self.l4..).unwrap_or(&[])));
            if c == 0 && self.kind == Kind::Udp {
                c = 0xffff;
            }
            set16(&mut self.buf, at, c);
        }
        if self.buf.len() < MIN_FRAME {
            self.buf.resize(MIN_FRAME, 0);
        }
        &self.buf
    }
}

fn set16(b: &mut [u8], at: usize, v: u16) {
    if let Some(s) = b.get_mut(at..at + 2) {
        s.copy_from_slice(&v.to_be_bytes());
    }
}

/// The one's-complement sum of `data` as big-endian 16-bit words, not yet
/// folded (32-bit words added into 64 bits fold to the same sum).
pub fn sum(data: &[u8]) -> u64 {
    let mut s = 0u64;
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_be_bytes(c.try_into().unwrap_or([0; 8]));
        s += (w >> 32) + (w & 0xffff_ffff);
    }
    let mut tail = [0u8; 8];
    let r = chunks.remainder();
    if let Some(t) = tail.get_mut(..r.len()) {
        t.copy_from_slice(r);
    }
    let w = u64::from_be_bytes(tail);
    s + (w >> 32) + (w & 0xffff_ffff)
}

/// Folds a sum to 16 bits and complements it.
pub fn fold(mut s: u64) -> u16 {
    while s >> 16 != 0 {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

/// Writes classic pcap (microsecond timestamps, Ethernet, snap length
/// 65535) to `W`, counting the bytes written.
#[derive(Debug)]
pub struct PcapWriter<W: Write> {
    out: W,
    /// Bytes written so far, header included.
    pub bytes: u64,
    /// Records written.
    pub packets: u64,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the file header.
    pub fn new(out: W) -> io::Result<PcapWriter<W>> {
        PcapWriter::with_snaplen(out, 65_535)
    }

    /// Writes the file header with another snap length (a live capture's,
    /// whose frames may be larger than an MTU after segmentation offload).
    pub fn with_snaplen(mut out: W, snaplen: u32) -> io::Result<PcapWriter<W>> {
        let mut h = [0u8; 24];
        h[0..4].copy_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        h[4..6].copy_from_slice(&2u16.to_le_bytes());
        h[6..8].copy_from_slice(&4u16.to_le_bytes());
        h[16..20].copy_from_slice(&snaplen.to_le_bytes());
        h[20..24].copy_from_slice(&1u32.to_le_bytes());
        out.write_all(&h)?;
        Ok(PcapWriter { out, bytes: 24, packets: 0 })
    }

    /// One record at `ts_ns` nanoseconds since the epoch.
    pub fn record(&mut self, ts_ns: u64, frame: &[u8]) -> io::Result<()> {
        self.record_captured(ts_ns, frame, frame.len() as u32)
    }

    /// One record of a frame that had `origlen` bytes on the wire, of which
    /// `frame` was captured.
    pub fn record_captured(&mut self, ts_ns: u64, frame: &[u8], origlen: u32) -> io::Result<()> {
        let secs = (ts_ns / 1_000_000_000) as u32;
        let usecs = ((ts_ns % 1_000_000_000) / 1000) as u32;
        let len = frame.len() as u32;
        let mut h = [0u8; 16];
        h[0..4].copy_from_slice(&secs.to_le_bytes());
        h[4..8].copy_from_slice(&usecs.to_le_bytes());
        h[8..12].copy_from_slice(&len.to_le_bytes());
        h[12..16].copy_from_slice(&origlen.max(len).to_le_bytes());
        self.out.write_all(&h)?;
        self.out.write_all(frame)?;
        self.bytes += 16 + u64::from(len);
        self.packets += 1;
        Ok(())
    }

    /// Flushes what was written so far.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// Flushes and returns the writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_verify_to_zero() {
        let l3 = L3 {
            src_mac: [0, 0x14, 0x22, 1, 2, 3],
            dst_mac: [0, 0x0e, 0x8c, 4, 5, 6],
            src: [10, 20, 10, 5],
            dst: [10, 20, 1, 10],
            ttl: 128,
        };
        let mut f = Frame::new();
        f.tcp(&l3, 7, (50000, 104), 1, 2, flags::ACK | flags::PSH, 512, &[])
            .extend_from_slice(b"odd length payload!");
        let frame = f.finish().to_vec();
        // The IP header sums to 0xffff (its complement is 0).
        assert_eq!(fold(sum(&frame[14..34])), 0);
        let tcp = &frame[34..];
        let pseudo = sum(&frame[26..34]) + 6 + tcp.len() as u64;
        assert_eq!(fold(pseudo + sum(tcp)), 0);
        assert_eq!(u16::from_be_bytes([frame[16], frame[17]]), 20 + 20 + 19);

        let mut f = Frame::new();
        f.udp(&l3, 8, 68, 67).push(1);
        let frame = f.finish().to_vec();
        assert_eq!(frame.len(), 60, "padded to the Ethernet minimum");
        let ip_len = usize::from(u16::from_be_bytes([frame[16], frame[17]]));
        assert_eq!(ip_len, 29);
        let udp = &frame[34..14 + ip_len];
        let pseudo = sum(&frame[26..34]) + 17 + udp.len() as u64;
        assert_eq!(fold(pseudo + sum(udp)), 0);
    }
}
