//! pcap and pcapng files, read streaming through one bounded buffer.
//!
//! [`CaptureFile::next_packet`] lends each packet's bytes straight out of
//! the read buffer (no copy per packet); the buffer is refilled with large
//! reads (2 MiB) and never grows past [`MAX_BLOCK`], whatever the file size.
//!
//! Formats:
//! - pcap: both byte orders, microsecond (`a1b2c3d4`) and nanosecond
//!   (`a1b23c4d`) magic, and the "modified" pcap of old Red Hat tcpdump
//!   (`a1b2cd34`, 24-byte record headers);
//! - pcapng: any number of sections, each with its own byte order; an
//!   interface description block per interface with its link type,
//!   `if_tsresol` and `if_tsoffset`; enhanced, simple and obsolete packet
//!   blocks; every other block type skipped by its length.
//!
//! Regions ([`CaptureFile::region`]): a capture can be read in pieces on
//! several threads. Each reader is given the bytes of one region of the
//! file, already read, and where the previous region's reader stopped
//! ([`CaptureFile::resume`]: the next record's offset and what the file
//! said so far, such as pcapng interfaces); it reads the records that start
//! inside its region, reading on from the file only to finish the last one,
//! and never moves or overwrites a byte it lent.
//!
//! Errors ([`CaptureError`]) name the file, the byte offset of the record
//! or block at fault and what was wrong. A truncated or corrupt file yields
//! every complete packet before the damage, then the error, then `None`.
//! A pcapng packet on an interface whose link type we cannot decode is an
//! error for that packet only ([`Problem::is_fatal`] is false): reading
//! goes on after it.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use sekimori_proto::packet::LinkType;
use thiserror::Error;

use crate::Timestamp;

/// The largest captured length accepted for one packet (libpcap's
/// `MAXIMUM_SNAPLEN`, 256 KiB).
pub const MAX_CAPLEN: u32 = 256 * 1024;
/// The largest pcapng block that is read into memory (packet and interface
/// blocks with their options). Other block types are skipped whatever their
/// length.
pub const MAX_BLOCK: u32 = 4 * 1024 * 1024;
/// The most interfaces one pcapng section may describe.
pub const MAX_INTERFACES: usize = 4096;

const READ_SIZE: usize = 2 * 1024 * 1024;

/// One packet lent from the file's read buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawPacket<'a> {
    /// When it was captured.
    pub ts: Timestamp,
    pub link: LinkType,
    /// The pcapng interface ID (0 for pcap).
    pub interface: u32,
    /// Bytes captured (`data.len()`).
    pub caplen: u32,
    /// Bytes the packet had on the wire.
    pub origlen: u32,
    pub data: &'a [u8],
}

/// Which format a file is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Classic pcap; `nanos` when timestamps are in nanoseconds.
    Pcap {
        big_endian: bool,
        nanos: bool,
    },
    PcapNg,
}

/// A problem reading a capture file: where, and what.
#[derive(Debug, Error)]
#[error("{}: byte {offset}: {what}", file.display())]
pub struct CaptureError {
    pub file: PathBuf,
    /// Byte offset in the file of the header, record or block at fault.
    pub offset: u64,
    pub what: Problem,
}

/// What was wrong.
#[derive(Debug, Error)]
pub enum Problem {
    #[error("read failed: {0}")]
    Io(#[from] io::Error),
    #[error("not a pcap or pcapng file (magic {0:#010x})")]
    BadMagic(u32),
    #[error("file ends {have} bytes into the {need}-byte file header")]
    TruncatedFileHeader { have: usize, need: usize },
    #[error("unsupported pcap version {major}.{minor}")]
    Version { major: u16, minor: u16 },
    #[error("unknown link type {0}")]
    UnknownLinkType(u32),
    #[error("file ends {have} bytes into a {need}-byte record header")]
    TruncatedRecordHeader { have: usize, need: usize },
    #[error("file ends {have} bytes into {need} bytes of packet data")]
    TruncatedPacket { have: usize, need: usize },
    #[error("captured length {caplen} is larger than the {cap}-byte limit")]
    CaplenTooLarge { caplen: u32, cap: u32 },
    #[error("file ends {have} bytes into a {need}-byte block")]
    TruncatedBlock { have: u64, need: u64 },
    #[error("block length {0} is not a multiple of 4 of at least 12")]
    BadBlockLength(u32),
    #[error(
        "block length {len} is larger than the {cap}-byte limit for block type {block_type:#x}"
    )]
    BlockTooLarge { block_type: u32, len: u32, cap: u32 },
    #[error("trailing block length {trailer} differs from the leading {len}")]
    BlockLengthMismatch { len: u32, trailer: u32 },
    #[error("section header byte-order magic {0:#010x} is not 1a2b3c4d")]
    BadByteOrderMagic(u32),
    #[error("{block} block too short for its fixed fields ({len} bytes)")]
    ShortBlock { block: &'static str, len: u32 },
    #[error("captured length {caplen} runs past the end of its {block} block")]
    CaplenPastBlock { block: &'static str, caplen: u32 },
    #[error("packet on interface {id}, but the section describes {count} interface(s)")]
    UnknownInterface { id: u32, count: usize },
    #[error("more than {0} interfaces in one section")]
    TooManyInterfaces(usize),
    #[error("if_tsresol {0:#04x} is out of range")]
    BadTsResol(u8),
    #[error("packet block before any section header")]
    NoSection,
}

impl Problem {
    /// Whether reading stops after this problem. Non-fatal problems concern
    /// one packet only, which is skipped.
    pub fn is_fatal(&self) -> bool {
        !matches!(self, Problem::UnknownLinkType(_) | Problem::UnknownInterface { .. })
    }
}

/// How an interface's timestamp ticks become nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Resol {
    /// ticks × n
    Mul(u64),
    /// ticks ÷ n
    Div(u64),
    /// ticks × 10⁹ ÷ 2ⁿ
    Pow2(u32),
}

impl Resol {
    fn from_tsresol(v: u8) -> Option<Resol> {
        if v & 0x80 == 0 {
            let e = u32::from(v);
            if e <= 9 {
                Some(Resol::Mul(10u64.pow(9 - e)))
            } else if e <= 19 {
                Some(Resol::Div(10u64.pow(e - 9)))
            } else {
                None
            }
        } else {
            let e = u32::from(v & 0x7f);
            (e <= 64).then_some(Resol::Pow2(e))
        }
    }

    #[inline]
    fn nanos(self, ticks: u64) -> i64 {
        let ns: u128 = match self {
            Resol::Mul(n) => u128::from(ticks) * u128::from(n),
            Resol::Div(n) => u128::from(ticks / n.max(1)),
            Resol::Pow2(e) => (u128::from(ticks) * 1_000_000_000) >> e,
        };
        i64::try_from(ns).unwrap_or(i64::MAX)
    }
}

#[derive(Clone, Copy, Debug)]
struct Interface {
    /// The link type number, and ours when we decode it.
    raw_link: u32,
    link: Option<LinkType>,
    snaplen: u32,
    resol: Resol,
    /// `if_tsoffset` in nanoseconds.
    offset_ns: i64,
}

#[derive(Clone, Debug)]
enum State {
    Pcap { big_endian: bool, nanos: bool, modified: bool, link: LinkType },
    PcapNg { big_endian: bool, interfaces: Vec<Interface> },
}

/// A pcap or pcapng file being read.
#[derive(Debug)]
pub struct CaptureFile<R = File> {
    path: PathBuf,
    src: R,
    buf: Vec<u8>,
    /// Next unread byte in `buf`.
    pos: usize,
    /// End of the valid bytes in `buf`.
    end: usize,
    /// File offset of `buf[0]`.
    base: u64,
    eof: bool,
    /// A fatal error was returned: only `None` from now on.
    done: bool,
    state: State,
    /// The last timestamp seen (simple packet blocks have none).
    last_ts: Timestamp,
    /// Where the last packet's bytes start in `buf`.
    lent_at: usize,
    /// Regions: no record starting at or after this offset is read.
    limit: u64,
    /// Regions: the buffer only grows (lent bytes stay where they are).
    grow_only: bool,
    /// Regions: the length of the file (a block to skip past the region
    /// is checked against it instead of read).
    file_len: u64,
    /// Regions: where the next record starts when it is past the buffer
    /// (a block skipped without reading it).
    skip_to: Option<u64>,
}

/// Where a reader of a capture stopped, and what reading on needs: the
/// next record's offset, the format state (byte order, link type or
/// pcapng interfaces) and the last timestamp. See
/// [`CaptureFile::region`].
#[derive(Clone, Debug)]
pub struct Resume {
    offset: u64,
    state: State,
    last_ts: Timestamp,
}

impl Resume {
    /// File offset of the next record or block.
    pub fn offset(&self) -> u64 {
        self.offset
    }
}

impl CaptureFile<File> {
    /// Opens `path` and reads its file header (pcap) or first section
    /// header (pcapng).
    pub fn open(path: impl AsRef<Path>) -> Result<CaptureFile<File>, CaptureError> {
        let path = path.as_ref();
        let file = File::open(path).map_err(|e| CaptureError {
            file: path.to_path_buf(),
            offset: 0,
            what: Problem::Io(e),
        })?;
        CaptureFile::from_reader(path, file)
    }
}

#[inline]
fn u16_at(b: &[u8], at: usize, big: bool) -> u16 {
    let a = b.get(at..at + 2).and_then(|s| <[u8; 2]>::try_from(s).ok()).unwrap_or_default();
    if big { u16::from_be_bytes(a) } else { u16::from_le_bytes(a) }
}

#[inline]
fn u32_at(b: &[u8], at: usize, big: bool) -> u32 {
    let a = b.get(at..at + 4).and_then(|s| <[u8; 4]>::try_from(s).ok()).unwrap_or_default();
    if big { u32::from_be_bytes(a) } else { u32::from_le_bytes(a) }
}

const PCAP_MAGIC_US: u32 = 0xa1b2_c3d4;
const PCAP_MAGIC_NS: u32 = 0xa1b2_3c4d;
const PCAP_MAGIC_MODIFIED: u32 = 0xa1b2_cd34;
const PCAPNG_SHB: u32 = 0x0a0d_0d0a;
const PCAPNG_BOM: u32 = 0x1a2b_3c4d;

const BLOCK_IDB: u32 = 1;
const BLOCK_PB: u32 = 2;
const BLOCK_SPB: u32 = 3;
const BLOCK_EPB: u32 = 6;

impl<R: Read> CaptureFile<R> {
    /// Reads a capture from any reader; `name` is the file named in errors.
    pub fn from_reader(name: impl AsRef<Path>, src: R) -> Result<CaptureFile<R>, CaptureError> {
        let mut f = CaptureFile::new(name.as_ref(), src, vec![0; READ_SIZE], 0, 0);
        f.read_file_header()?;
        Ok(f)
    }

    /// A reader with `buf[..end]` holding the file's bytes from `base` on,
    /// before any header is read.
    fn new(name: &Path, src: R, buf: Vec<u8>, end: usize, base: u64) -> CaptureFile<R> {
        CaptureFile {
            path: name.to_path_buf(),
            src,
            buf,
            pos: 0,
            end,
            base,
            eof: false,
            done: false,
            state: State::Pcap {
                big_endian: false,
                nanos: false,
                modified: false,
                link: LinkType::Ethernet,
            },
            last_ts: Timestamp(0),
            lent_at: 0,
            limit: u64::MAX,
            grow_only: false,
            file_len: u64::MAX,
            skip_to: None,
        }
    }

    /// A reader of one region of a capture of `file_len` bytes: `buf`
    /// holds the file's bytes from offset `base` on, and `src` reads on
    /// from `base + buf.len()`. Reading starts where `from` stopped (a
    /// reader of the previous region, [`CaptureFile::resume`]), or with
    /// the file header when `from` is `None` (then `base` is 0). It reads
    /// the records and blocks that start before `limit`, reading on from
    /// `src` only to finish the last of them; the buffer then grows, and
    /// no byte lent from it is ever moved. A block to skip (one we do not
    /// read) that runs past the buffer is not read either: reading stops,
    /// and the next region resumes after it.
    pub fn region(
        name: impl AsRef<Path>,
        src: R,
        buf: Vec<u8>,
        base: u64,
        from: Option<&Resume>,
        limit: u64,
        file_len: u64,
    ) -> Result<CaptureFile<R>, CaptureError> {
        let end = buf.len();
        let mut f = CaptureFile::new(name.as_ref(), src, buf, end, base);
        f.limit = limit;
        f.grow_only = true;
        f.file_len = file_len;
        match from {
            None => f.read_file_header()?,
            Some(r) => {
                f.state = r.state.clone();
                f.last_ts = r.last_ts;
                match r.offset.checked_sub(base) {
                    Some(at) if at <= end as u64 => f.pos = at as usize,
                    // Before this region (never, from the previous one) or
                    // past its bytes: nothing here to read.
                    _ => {
                        f.skip_to = Some(r.offset);
                        f.done = true;
                    }
                }
            }
        }
        Ok(f)
    }

    /// Where this reader stopped: what the reader of the next region
    /// needs ([`CaptureFile::region`]).
    pub fn resume(&self) -> Resume {
        Resume {
            offset: self.skip_to.unwrap_or_else(|| self.offset()),
            state: self.state.clone(),
            last_ts: self.last_ts,
        }
    }

    /// Regions: whether the next record starts at or after the limit
    /// (then this reader is done).
    #[inline]
    fn at_limit(&mut self) -> bool {
        if self.offset() >= self.limit {
            self.done = true;
            return true;
        }
        false
    }

    /// The file's format (for pcapng, the first section's byte order is
    /// not reported: sections may differ).
    pub fn format(&self) -> Format {
        match self.state {
            State::Pcap { big_endian, nanos, .. } => Format::Pcap { big_endian, nanos },
            State::PcapNg { .. } => Format::PcapNg,
        }
    }

    /// The file named in errors.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// File offset of the next unread byte.
    pub fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    /// Where the bytes of the packet last returned by
    /// [`CaptureFile::next_packet`] start in the read buffer.
    pub fn data_at(&self) -> usize {
        self.lent_at
    }

    /// The read buffer, ending the reading (for a region: every packet
    /// lent is in it, at [`CaptureFile::data_at`]).
    pub fn into_buffer(self) -> Vec<u8> {
        self.buf
    }

    fn error(&self, offset: u64, what: Problem) -> CaptureError {
        CaptureError { file: self.path.clone(), offset, what }
    }

    fn fatal(&mut self, offset: u64, what: Problem) -> CaptureError {
        self.done = true;
        self.error(offset, what)
    }

    fn avail(&self) -> usize {
        self.end - self.pos
    }

    /// Makes at least `n` unread bytes available if the file has them;
    /// returns how many are (less than `n` only at the end of the file).
    #[inline]
    fn fill(&mut self, n: usize) -> Result<usize, CaptureError> {
        if self.avail() >= n {
            return Ok(self.avail());
        }
        self.refill(n)
    }

    #[cold]
    fn refill(&mut self, n: usize) -> Result<usize, CaptureError> {
        if self.pos + n > self.buf.len() && self.grow_only {
            // Regions: the record runs past the bytes read; read just the
            // rest of it, lent bytes left where they are.
            self.buf.resize(self.pos + n, 0);
        } else if self.pos + n > self.buf.len() {
            // Move the unread tail to the front; grow only for a block
            // larger than the buffer (bounded by the callers' caps).
            self.buf.copy_within(self.pos..self.end, 0);
            self.base += self.pos as u64;
            self.end -= self.pos;
            self.pos = 0;
            if n > self.buf.len() {
                self.buf.resize(n, 0);
            }
        }
        while self.avail() < n && !self.eof {
            let Some(dst) = self.buf.get_mut(self.end..) else { break };
            match self.src.read(dst) {
                Ok(0) => self.eof = true,
                Ok(k) => self.end += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let at = self.base + self.end as u64;
                    return Err(self.fatal(at, Problem::Io(e)));
                }
            }
        }
        Ok(self.avail())
    }

    /// Skips `n` bytes (an unknown pcapng block) without holding them.
    fn skip(&mut self, mut n: u64) -> Result<u64, CaptureError> {
        let mut skipped = 0;
        while n > 0 {
            if self.avail() == 0 && self.refill(1)? == 0 {
                break;
            }
            let k = (self.avail() as u64).min(n);
            self.pos += k as usize;
            n -= k;
            skipped += k;
        }
        Ok(skipped)
    }

    fn bytes(&self, from: usize, len: usize) -> &[u8] {
        self.buf.get(from..from + len).unwrap_or(&[])
    }

    fn read_file_header(&mut self) -> Result<(), CaptureError> {
        let have = self.fill(4)?;
        if have < 4 {
            return Err(self.fatal(0, Problem::TruncatedFileHeader { have, need: 24 }));
        }
        let magic_le = u32_at(&self.buf, self.pos, false);
        let (big_endian, nanos, modified) = match magic_le {
            PCAPNG_SHB => {
                self.state = State::PcapNg { big_endian: false, interfaces: Vec::new() };
                // The section header is read as the first block.
                return Ok(());
            }
            PCAP_MAGIC_US => (false, false, false),
            PCAP_MAGIC_NS => (false, true, false),
            PCAP_MAGIC_MODIFIED => (false, false, true),
            m if m.swap_bytes() == PCAP_MAGIC_US => (true, false, false),
            m if m.swap_bytes() == PCAP_MAGIC_NS => (true, true, false),
            m if m.swap_bytes() == PCAP_MAGIC_MODIFIED => (true, false, true),
            m => return Err(self.fatal(0, Problem::BadMagic(m.swap_bytes()))),
        };
        let have = self.fill(24)?;
        if have < 24 {
            return Err(self.fatal(0, Problem::TruncatedFileHeader { have, need: 24 }));
        }
        let major = u16_at(&self.buf, self.pos + 4, big_endian);
        let minor = u16_at(&self.buf, self.pos + 6, big_endian);
        if major != 2 {
            return Err(self.fatal(4, Problem::Version { major, minor }));
        }
        let raw_link = u32_at(&self.buf, self.pos + 20, big_endian) & 0xffff;
        let Some(link) = LinkType::from_pcap(raw_link) else {
            return Err(self.fatal(20, Problem::UnknownLinkType(raw_link)));
        };
        self.pos += 24;
        self.state = State::Pcap { big_endian, nanos, modified, link };
        Ok(())
    }

    /// The next packet, lent until the next call; `None` at the end of the
    /// file (or after a fatal error).
    pub fn next_packet(&mut self) -> Result<Option<RawPacket<'_>>, CaptureError> {
        if self.done {
            return Ok(None);
        }
        match self.state {
            State::Pcap { big_endian, nanos, modified, link } => {
                self.next_pcap(big_endian, nanos, modified, link)
            }
            State::PcapNg { .. } => self.next_pcapng(),
        }
    }

    #[inline]
    fn next_pcap(
        &mut self,
        big: bool,
        nanos: bool,
        modified: bool,
        link: LinkType,
    ) -> Result<Option<RawPacket<'_>>, CaptureError> {
        if self.at_limit() {
            return Ok(None);
        }
        let hlen = if modified { 24 } else { 16 };
        let at = self.offset();
        let have = self.fill(hlen)?;
        if have < hlen {
            if have == 0 {
                self.done = true;
                return Ok(None);
            }
            return Err(self.fatal(at, Problem::TruncatedRecordHeader { have, need: hlen }));
        }
        let p = self.pos;
        let sec = u32_at(&self.buf, p, big);
        let frac = u32_at(&self.buf, p + 4, big);
        let caplen = u32_at(&self.buf, p + 8, big);
        let origlen = u32_at(&self.buf, p + 12, big);
        if caplen > MAX_CAPLEN {
            return Err(self.fatal(at, Problem::CaplenTooLarge { caplen, cap: MAX_CAPLEN }));
        }
        let need = hlen + caplen as usize;
        let have = self.fill(need)?;
        if have < need {
            let have = have - hlen;
            return Err(self.fatal(at, Problem::TruncatedPacket { have, need: caplen as usize }));
        }
        let start = self.pos + hlen;
        self.pos += need;
        self.lent_at = start;
        let ns = i64::from(sec) * 1_000_000_000 + i64::from(frac) * if nanos { 1 } else { 1000 };
        self.last_ts = Timestamp(ns);
        Ok(Some(RawPacket {
            ts: Timestamp(ns),
            link,
            interface: 0,
            caplen,
            origlen,
            data: self.bytes(start, caplen as usize),
        }))
    }

    fn next_pcapng(&mut self) -> Result<Option<RawPacket<'_>>, CaptureError> {
        loop {
            if self.at_limit() {
                return Ok(None);
            }
            let at = self.offset();
            let have = self.fill(8)?;
            if have < 8 {
                if have == 0 {
                    self.done = true;
                    return Ok(None);
                }
                return Err(self.fatal(at, Problem::TruncatedBlock { have: have as u64, need: 8 }));
            }
            let State::PcapNg { big_endian, .. } = self.state else { return Ok(None) };
            let block_type = u32_at(&self.buf, self.pos, big_endian);
            let big = if block_type == PCAPNG_SHB {
                // The byte order is the section header's own.
                let have = self.fill(12)?;
                if have < 12 {
                    return Err(
                        self.fatal(at, Problem::TruncatedBlock { have: have as u64, need: 12 })
                    );
                }
                match u32_at(&self.buf, self.pos + 8, false) {
                    PCAPNG_BOM => false,
                    m if m.swap_bytes() == PCAPNG_BOM => true,
                    m => return Err(self.fatal(at + 8, Problem::BadByteOrderMagic(m))),
                }
            } else {
                big_endian
            };
            let len = u32_at(&self.buf, self.pos + 4, big);
            if len < 12 || !len.is_multiple_of(4) {
                return Err(self.fatal(at + 4, Problem::BadBlockLength(len)));
            }
            let known =
                matches!(block_type, PCAPNG_SHB | BLOCK_IDB | BLOCK_EPB | BLOCK_SPB | BLOCK_PB);
            if !known && self.grow_only && self.avail() < len as usize {
                // Regions: not read; the next region resumes after it.
                let next = at + u64::from(len);
                if next > self.file_len {
                    let have = self.file_len.saturating_sub(at);
                    return Err(
                        self.fatal(at, Problem::TruncatedBlock { have, need: u64::from(len) })
                    );
                }
                self.skip_to = Some(next);
                self.done = true;
                return Ok(None);
            }
            if !known {
                let skipped = self.skip(u64::from(len))?;
                if skipped < u64::from(len) {
                    return Err(self.fatal(
                        at,
                        Problem::TruncatedBlock { have: skipped, need: u64::from(len) },
                    ));
                }
                continue;
            }
            if len > MAX_BLOCK {
                return Err(
                    self.fatal(at, Problem::BlockTooLarge { block_type, len, cap: MAX_BLOCK })
                );
            }
            let n = len as usize;
            let have = self.fill(n)?;
            if have < n {
                return Err(self.fatal(
                    at,
                    Problem::TruncatedBlock { have: have as u64, need: u64::from(len) },
                ));
            }
            let trailer = u32_at(&self.buf, self.pos + n - 4, big);
            if trailer != len {
                return Err(self.fatal(
                    at + u64::from(len) - 4,
                    Problem::BlockLengthMismatch { len, trailer },
                ));
            }
            let body = self.pos + 8;
            let body_len = n - 12;
            self.pos += n;
            match block_type {
                PCAPNG_SHB => self.section(at, body, body_len, big)?,
                BLOCK_IDB => self.interface(at, body, body_len, big)?,
                _ => return self.packet(at, block_type, body, body_len, big).map(Some),
            }
        }
    }

    /// A section header: a new byte order, no interfaces yet.
    fn section(
        &mut self,
        at: u64,
        body: usize,
        body_len: usize,
        big: bool,
    ) -> Result<(), CaptureError> {
        if body_len < 12 {
            return Err(self.fatal(
                at,
                Problem::ShortBlock { block: "section header", len: body_len as u32 + 12 },
            ));
        }
        let major = u16_at(&self.buf, body + 4, big);
        let minor = u16_at(&self.buf, body + 6, big);
        if major != 1 {
            return Err(self.fatal(at + 12, Problem::Version { major, minor }));
        }
        self.state = State::PcapNg { big_endian: big, interfaces: Vec::new() };
        Ok(())
    }

    /// An interface description: link type, snap length, and the
    /// timestamp options.
    fn interface(
        &mut self,
        at: u64,
        body: usize,
        body_len: usize,
        big: bool,
    ) -> Result<(), CaptureError> {
        if body_len < 8 {
            return Err(self.fatal(
                at,
                Problem::ShortBlock { block: "interface description", len: body_len as u32 + 12 },
            ));
        }
        let raw_link = u32::from(u16_at(&self.buf, body, big));
        let snaplen = u32_at(&self.buf, body + 4, big);
        let mut iface = Interface {
            raw_link,
            link: LinkType::from_pcap(raw_link),
            snaplen,
            resol: Resol::Mul(1000),
            offset_ns: 0,
        };
        // Options: code, length, value padded to 4; bounded by the block.
        let mut o = body + 8;
        let end = body + body_len;
        while o + 4 <= end {
            let code = u16_at(&self.buf, o, big);
            let olen = usize::from(u16_at(&self.buf, o + 2, big));
            let val = o + 4;
            if code == 0 || val + olen > end {
                break;
            }
            match (code, olen) {
                (9, 1) => {
                    let v = self.buf.get(val).copied().unwrap_or(6);
                    iface.resol = Resol::from_tsresol(v)
                        .ok_or_else(|| self.error(at, Problem::BadTsResol(v)))?;
                }
                (14, 8) => {
                    let lo = u64::from(u32_at(&self.buf, val, big));
                    let hi = u64::from(u32_at(&self.buf, val + 4, big));
                    let secs = if big { (lo << 32) | hi } else { (hi << 32) | lo } as i64;
                    iface.offset_ns = secs.saturating_mul(1_000_000_000);
                }
                _ => {}
            }
            o = val + olen.div_ceil(4) * 4;
        }
        let State::PcapNg { interfaces, .. } = &mut self.state else { return Ok(()) };
        if interfaces.len() >= MAX_INTERFACES {
            return Err(self.fatal(at, Problem::TooManyInterfaces(MAX_INTERFACES)));
        }
        interfaces.push(iface);
        Ok(())
    }

    /// An enhanced, simple or obsolete packet block (already consumed).
    fn packet(
        &mut self,
        at: u64,
        block_type: u32,
        body: usize,
        body_len: usize,
        big: bool,
    ) -> Result<RawPacket<'_>, CaptureError> {
        let (name, fixed) = match block_type {
            BLOCK_EPB => ("enhanced packet", 20),
            BLOCK_PB => ("packet", 20),
            _ => ("simple packet", 4),
        };
        if body_len < fixed {
            return Err(
                self.fatal(at, Problem::ShortBlock { block: name, len: body_len as u32 + 12 })
            );
        }
        let (id, ticks, caplen, origlen) = match block_type {
            BLOCK_SPB => {
                let origlen = u32_at(&self.buf, body, big);
                (0, None, origlen, origlen)
            }
            _ => {
                let id = if block_type == BLOCK_PB {
                    u32::from(u16_at(&self.buf, body, big))
                } else {
                    u32_at(&self.buf, body, big)
                };
                let hi = u64::from(u32_at(&self.buf, body + 4, big));
                let lo = u64::from(u32_at(&self.buf, body + 8, big));
                (
                    id,
                    Some((hi << 32) | lo),
                    u32_at(&self.buf, body + 12, big),
                    u32_at(&self.buf, body + 16, big),
                )
            }
        };
        let State::PcapNg { interfaces, .. } = &self.state else {
            return Err(self.fatal(at, Problem::NoSection));
        };
        let Some(iface) = interfaces.get(id as usize).copied() else {
            let count = interfaces.len();
            return Err(self.error(at, Problem::UnknownInterface { id, count }));
        };
        // A simple packet block's captured length is what fits in the
        // block (and the snap length).
        let room = (body_len - fixed) as u32;
        let caplen = if block_type == BLOCK_SPB {
            let snap = if iface.snaplen == 0 { u32::MAX } else { iface.snaplen };
            caplen.min(room).min(snap)
        } else {
            caplen
        };
        if caplen > MAX_CAPLEN {
            return Err(self.fatal(at, Problem::CaplenTooLarge { caplen, cap: MAX_CAPLEN }));
        }
        if caplen > room {
            return Err(self.fatal(at, Problem::CaplenPastBlock { block: name, caplen }));
        }
        let Some(link) = iface.link else {
            return Err(self.error(at, Problem::UnknownLinkType(iface.raw_link)));
        };
        let ts = match ticks {
            Some(t) => Timestamp(iface.resol.nanos(t).saturating_add(iface.offset_ns)),
            None => self.last_ts,
        };
        self.last_ts = ts;
        self.lent_at = body + fixed;
        Ok(RawPacket {
            ts,
            link,
            interface: id,
            caplen,
            origlen,
            data: self.bytes(body + fixed, caplen as usize),
        })
    }
}
