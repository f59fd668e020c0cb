//! The analysis on several cores (`--threads N`): `N` workers, each
//! reading its own regions of the captures and analysing its own flows.
//!
//! The captures are cut into regions of `REGION` (512 KiB) bytes, dealt out in
//! turn: worker `w` reads regions `w`, `w + N`, `w + 2N`, … So the most
//! expensive part of a one-thread analysis, the copy out of the page cache,
//! is shared out, and so is the decode. Each region goes through three
//! steps on the worker that owns it:
//!
//! 1. **read**: its bytes, with positioned reads into a buffer of the
//!    worker's own, one region ahead of the walk (more read-ahead only
//!    pushes the region out of the core's cache before it is walked);
//! 2. **walk**: its records, from where the walk of the previous region
//!    stopped (the chain: the record offset and the format state
//!    ([`Resume`]), the next sweep time, the frame count). The record that
//!    crosses the region's end is finished by reading on from the file
//!    ([`CaptureFile::region`]). The walk reads only record headers, so
//!    the chain, the one sequential part, is short (about 3 % of the
//!    work); it is handed to the next region's worker at once;
//! 3. **route**: each frame given to the worker that owns its flow, by a
//!    hash of the flow key that is the same both ways (non-IP frames and
//!    frames that do not decode: worker 0), and noted for it by its place
//!    in the buffer. The key of the most common frame (Ethernet, IPv4, TCP
//!    or UDP) is read straight from its bytes; any other frame is decoded. The idle
//!    sweeps, placed by the walk once a second of packet time, go to
//!    every worker.
//!
//! The region, with every worker's frames in it, is then sent to all
//! workers (one `Arc`, no copy per packet), and each worker decodes and
//! analyses its own frames of every region in region order: every flow
//! sees its packets in file order, on one worker. (Handing over the
//! decoded packets instead, 168 bytes each, cost more in cross-core
//! traffic than the second decode costs.) A worker does whatever is ready:
//! walk a region whose chain has come, route, analyse the next region,
//! read ahead; between small steps of the longer ones (`STEP`,
//! `STEP_ITEMS`) it looks for a chain to hand on, so the other workers
//! seldom wait for it; when nothing is ready it looks for a message a
//! little longer, yielding its core, before it sleeps (waking a thread
//! costs more than the wait usually lasts). The analysis loads the
//! headers of its packets a batch ahead (`TOUCH`), so the misses on
//! packets read by the other core overlap instead of queueing. A buffer
//! returns to its reader when the last worker is done with it, so the
//! memory between threads is bounded (`N × BUFFERS` regions) whatever the
//! capture's size.
//!
//! The output is the single-threaded output, byte for byte, because:
//! - sweeps happen at the same frames in every worker: the single-threaded
//!   analysis sweeps at frames too ([`Analyzer::frame`]), decoded or not;
//! - whatever reaches the inventory (ended flows, imported flow records,
//!   ARP and LLDP/CDP announcements) is logged with the number of the frame
//!   it happened at and replayed at the end in the single-threaded order:
//!   per frame, imports and link-layer events first, then the flows that
//!   ended, sorted by [`FlowRecord::sort_key`] (the single-threaded
//!   analysis sorts each batch of ended flows the same way);
//! - conversation counters are sums, merged in any order.
//!
//! One difference remains. Each worker holds at most `max_flows / N`
//! flows, so when the table is full, which flow is evicted differs from
//! the single-threaded choice (the sum of the workers' peaks bounds the
//! peak). Idle expiry does not differ: every idle list is kept sorted by
//! link time ([`crate::flow::FlowTable::expire`]), so a sweep ends the
//! same flows whatever else a table holds (tests: every capture with two
//! to four workers, all captures as one input, time going back between
//! files, a capture of many regions, damaged captures).
//!
//! A capture that cannot be read on stops the walk at the damage: the
//! packets before it are analysed, later regions are not, and the error
//! (file and offset) comes back with the analysis. Inputs that are not
//! regular files (a pipe) or not captures (Zeek `conn.log`) are read by
//! the single-threaded path, and so is everything if a worker fails.

use std::collections::{BTreeMap, VecDeque};
use std::fs::File;
use std::hash::BuildHasher;
use std::io::{Seek, SeekFrom};
use std::net::IpAddr;
use std::os::unix::fs::FileExt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, channel};

use sekimori_capture::file::Resume;
use sekimori_capture::{CaptureError, CaptureFile, Problem};
use sekimori_proto::App;
use sekimori_proto::Fact;
use sekimori_proto::packet::{Layer3, LinkType, Packet};

use crate::conversation::Conversation;
use crate::flow::Timestamp;
use crate::record::FlowRecord;
use crate::{Analyzer, Error, Options, Outcome, Stats};

/// Bytes of a capture read at a time by one worker: small enough that a
/// region is still in the core's cache when it is walked and decoded.
const REGION: u64 = 512 * 1024;
/// Region buffers per worker: the one read ahead and those not yet
/// analysed by every worker.
const BUFFERS: usize = 6;
/// Regions read and not yet walked, per worker.
const READ_AHEAD: usize = 1;
/// Bytes read, or frames routed or analysed, between two looks for a
/// chain to hand on ([`Worker::poll`]).
const STEP: usize = 128 * 1024;
const STEP_ITEMS: usize = 256;

/// How long a worker with nothing to do looks for a message before it
/// sleeps ([`Worker::wait`]).
const SPIN: std::time::Duration = std::time::Duration::from_micros(200);

/// Frames whose headers are loaded together, a batch ahead of their
/// analysis ([`touch`]).
const TOUCH: usize = 16;

/// Loads the headers of the next [`TOUCH`] packets of `work` in `data`
/// into this core's cache. Half of a worker's packets were read by another
/// core: one at a time, each would wait for its own transfer between the
/// cores; loaded together (independent loads), they wait about once.
#[inline]
fn touch(data: &[u8], work: &[Work]) {
    let mut x = 0u8;
    for w in work.iter().take(TOUCH) {
        if let Work::Packet { off, .. } = *w {
            let o = off as usize;
            // The Ethernet, IP and TCP headers: up to two cache lines.
            x ^= data.get(o).copied().unwrap_or(0) ^ data.get(o + 53).copied().unwrap_or(0);
        }
    }
    std::hint::black_box(x);
}

/// Something that reaches the inventory, in the order it must be replayed.
#[derive(Debug)]
pub(crate) struct Logged {
    /// Number of the frame it happened at (`u64::MAX`: at the
    /// end).
    pub batch: u64,
    /// Order within the packet: 0 for imports and link-layer events (in
    /// the order they happened), 1 for ended flows (by sort key).
    pub phase: u8,
    pub seq: u32,
    pub event: Event,
}

#[derive(Debug)]
pub(crate) enum Event {
    /// An ended flow.
    Ended(FlowRecord),
    /// A flow record decoded from an export datagram.
    Imported(FlowRecord),
    Arp {
        mac: [u8; 6],
        ip: IpAddr,
        ts: Timestamp,
    },
    Frame {
        mac: [u8; 6],
        app: App,
        facts: Vec<Fact>,
        ts: Timestamp,
    },
}

/// A worker's end result.
struct Done {
    log: Vec<Logged>,
    conversations: Vec<Conversation>,
    stats: Stats,
    flows_peak: u64,
}

/// One region of one capture: bytes `base..end` of `paths[file]`.
#[derive(Clone, Copy, Debug)]
struct Region {
    file: usize,
    base: u64,
    end: u64,
}

/// What the walk of a region hands on to the next region's walk.
#[derive(Clone, Debug)]
struct Chain {
    /// Where the records go on; `None`: the region starts its file (the
    /// header first).
    resume: Option<Resume>,
    next_sweep: Timestamp,
    /// Frames so far (what happens at a frame is logged with its number).
    frames: u64,
}

/// A frame or sweep found by a walk, in file order.
#[derive(Clone, Copy, Debug)]
enum Walked {
    Frame { ts: Timestamp, index: u64, wire_len: u32, link: LinkType, off: u32, len: u32 },
    Sweep { ts: Timestamp, index: u64 },
}

/// A packet for one worker, or a sweep.
#[derive(Clone, Copy, Debug)]
enum Work {
    Packet { ts: Timestamp, index: u64, wire_len: u32, link: LinkType, off: u32, len: u32 },
    Sweep { ts: Timestamp, index: u64 },
}

/// A region's bytes and each worker's packets in it. Shared by all
/// workers; the last one done with it sends `data` back to `reader`.
#[derive(Debug)]
struct Chunk {
    data: Vec<u8>,
    work: Vec<Vec<Work>>,
    reader: usize,
}

/// What workers tell each other.
enum Msg {
    /// The chain for this region: it may be walked.
    Chain(usize, Chain),
    /// This region, routed.
    Chunk(usize, Arc<Chunk>),
    /// The reading ends with this region (the last one, or the one with a
    /// fatal error).
    End(usize),
    /// A region's buffer and lists back for reuse.
    Spare(Chunk),
    /// A worker failed: stop.
    Abort,
}

/// What one worker brings back.
struct Finished {
    done: Done,
    /// Files, frames and bytes walked; frames skipped and undecodable.
    read: Stats,
    error: Option<Error>,
}

/// Which of `n` workers analyses a decoded frame: by a hash of the flow
/// key that is the same both ways for IP ([`owner_of`]), worker 0 for the
/// rest (ARP, LLDP/CDP).
#[inline]
fn owner(hasher: &foldhash::fast::FixedState, p: &Packet<'_>, n: usize) -> usize {
    match &p.l3 {
        Layer3::Ip { ip, transport } => {
            let (protocol, sport, dport, _) = crate::transport_key(transport);
            let key = ((ip.src, sport), (ip.dst, dport), protocol, p.vlan);
            owner_of(hasher, key, n)
        }
        Layer3::NonIp(_) => 0,
    }
}

/// The worker of a flow key: the endpoints' hashes are added, so the
/// same both ways.
#[inline]
fn owner_of(
    hasher: &foldhash::fast::FixedState,
    (a, b, protocol, vlan): ((IpAddr, u16), (IpAddr, u16), u8, [u16; 2]),
    n: usize,
) -> usize {
    let end = |(ip, port): (IpAddr, u16)| {
        let a = match ip {
            IpAddr::V4(v4) => v4.to_ipv6_mapped(),
            IpAddr::V6(v6) => v6,
        };
        hasher.hash_one((u128::from(a), port))
    };
    let ends = end(a).wrapping_add(end(b));
    let h = hasher.hash_one((ends, protocol, vlan));
    ((u128::from(h) * n as u128) >> 64) as usize
}

/// [`owner`] of the most common frame, read straight from its bytes
/// instead of decoded: untagged Ethernet, IPv4 not fragmented, TCP or UDP
/// (the key the decode gives it: addresses, ports, protocol, no VLAN).
/// `None` for every other frame: it is decoded.
#[inline]
fn owner_fast(
    hasher: &foldhash::fast::FixedState,
    link: LinkType,
    f: &[u8],
    n: usize,
) -> Option<usize> {
    if link != LinkType::Ethernet {
        return None;
    }
    let h: [u8; 34] = f.get(..34)?.try_into().ok()?;
    let [.., t0, t1, vihl, _, l0, l1, _, _, fl0, fl1, _, protocol] = *h.first_chunk::<24>()?;
    let hlen = usize::from(vihl & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([l0, l1]));
    let fragment = u16::from_be_bytes([fl0, fl1]) & 0x3fff != 0;
    if [t0, t1] != [0x08, 0x00]
        || vihl >> 4 != 4
        || hlen < 20
        || total < hlen
        || fragment
        || !matches!(protocol, 6 | 17)
    {
        return None;
    }
    let [s0, s1, s2, s3, d0, d1, d2, d3] = *h.last_chunk::<8>()?;
    let ports: [u8; 4] = f.get(14 + hlen..18 + hlen)?.try_into().ok()?;
    let [p0, p1, p2, p3] = ports;
    let src = (IpAddr::from([s0, s1, s2, s3]), u16::from_be_bytes([p0, p1]));
    let dst = (IpAddr::from([d0, d1, d2, d3]), u16::from_be_bytes([p2, p3]));
    Some(owner_of(hasher, (src, dst, protocol, [0, 0]), n))
}

/// One worker's state (see the module documentation).
struct Worker<'a> {
    me: usize,
    n: usize,
    paths: &'a [PathBuf],
    lens: &'a [u64],
    regions: &'a [Region],
    inbox: Receiver<Msg>,
    peers: Vec<Sender<Msg>>,
    /// The captures, opened by this worker as it reaches them.
    files: Vec<Option<Arc<File>>>,
    /// Free buffers, and how many this worker has made.
    pool: Vec<Vec<u8>>,
    /// Emptied work lists for the next region routed, and the walk's list
    /// (reused: no allocation per region once warm).
    spare_work: Vec<Vec<Vec<Work>>>,
    spare_walked: Vec<Vec<Walked>>,
    /// Regions walked, not yet routed.
    routing: VecDeque<(usize, Vec<Walked>, Vec<u8>)>,
    buffers: usize,
    /// This worker's next region to read, and those read, not yet walked.
    next_read: usize,
    read: VecDeque<(usize, Result<Vec<u8>, CaptureError>)>,
    chains: BTreeMap<usize, Chain>,
    chunks: BTreeMap<usize, Arc<Chunk>>,
    next_analysis: usize,
    /// The last region, once known.
    last: Option<usize>,
    aborted: bool,
    hasher: foldhash::fast::FixedState,
    an: Analyzer,
    stats: Stats,
    error: Option<Error>,
}

impl Worker<'_> {
    fn run(mut self) -> Finished {
        loop {
            while let Ok(m) = self.inbox.try_recv() {
                self.take(m);
            }
            if self.aborted || self.last.is_some_and(|l| self.next_analysis > l) {
                break;
            }
            if self.walk_next() || self.route_next() || self.analyse_next() || self.read_next() {
                continue;
            }
            match self.wait() {
                Ok(m) => self.take(m),
                Err(_) => break,
            }
        }
        let mut an = std::mem::replace(&mut self.an, Analyzer::new(&Options::default()));
        an.batch = u64::MAX;
        an.table.drain(crate::EndReason::End);
        an.drain_ended();
        let log = an.log.take().unwrap_or_default();
        let bucket = std::time::Duration::from_secs(an.conversations.bucket_secs());
        let conv = std::mem::replace(&mut an.conversations, crate::Conversations::new(bucket));
        let done = Done {
            log,
            conversations: conv.into_sorted(|ip| ip.to_string()),
            flows_peak: an.table.stats.peak,
            stats: Stats { table: an.table.stats, ..an.stats },
        };
        Finished { done, read: self.stats, error: self.error }
    }

    /// The next message: looked for for a while ([`SPIN`], yielding the
    /// core) before the thread sleeps. What a worker waits for (a chain, a
    /// region) is usually microseconds away, and waking a sleeping thread
    /// costs more than that (most of all in a virtual machine).
    fn wait(&mut self) -> Result<Msg, std::sync::mpsc::RecvError> {
        let start = std::time::Instant::now();
        loop {
            match self.inbox.try_recv() {
                Ok(m) => return Ok(m),
                Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                    return Err(std::sync::mpsc::RecvError);
                }
                Err(std::sync::mpsc::TryRecvError::Empty) if start.elapsed() < SPIN => {
                    // Another thread that has work on this core runs.
                    std::thread::yield_now();
                }
                Err(std::sync::mpsc::TryRecvError::Empty) => return self.inbox.recv(),
            }
        }
    }

    fn take(&mut self, m: Msg) {
        match m {
            Msg::Chain(seq, c) => {
                self.chains.insert(seq, c);
            }
            Msg::Chunk(seq, c) => {
                self.chunks.insert(seq, c);
            }
            Msg::End(last) => self.last = Some(last),
            Msg::Spare(c) => self.spare(c),
            Msg::Abort => self.aborted = true,
        }
    }

    fn send(&self, to: usize, m: Msg) {
        if let Some(p) = self.peers.get(to) {
            // A worker that is gone has stopped (aborted or finished).
            let _ = p.send(m);
        }
    }

    /// Takes what has come, and walks the regions whose chains have: a
    /// worker does this between small steps of longer work, so the chain
    /// (the one sequential part) never waits long for it.
    #[inline]
    fn poll(&mut self) {
        while let Ok(m) = self.inbox.try_recv() {
            self.take(m);
        }
        while self.walk_next() {}
    }

    /// Reads this worker's next region ahead, if a buffer is free.
    fn read_next(&mut self) -> bool {
        let seq = self.next_read;
        let Some(&r) = self.regions.get(seq) else { return false };
        if self.last.is_some_and(|l| seq > l) || self.read.len() >= READ_AHEAD {
            return false;
        }
        let buf = match self.pool.pop() {
            Some(b) => b,
            None if self.buffers < BUFFERS => {
                self.buffers += 1;
                Vec::new()
            }
            None => return false,
        };
        self.next_read += self.n;
        let got = self.fill(r, buf);
        self.read.push_back((seq, got));
        true
    }

    /// The bytes of `r` in `buf` (fewer if the file is shorter now), read
    /// a [`STEP`] at a time.
    fn fill(&mut self, r: Region, mut buf: Vec<u8>) -> Result<Vec<u8>, CaptureError> {
        let path = self.paths.get(r.file).map(PathBuf::as_path).unwrap_or(Path::new(""));
        let io = |offset: u64, e: std::io::Error| CaptureError {
            file: path.to_path_buf(),
            offset,
            what: Problem::Io(e),
        };
        let Some(slot) = self.files.get_mut(r.file) else {
            return Err(io(0, std::io::ErrorKind::NotFound.into()));
        };
        let file = match slot {
            Some(f) => Arc::clone(f),
            None => {
                let f = Arc::new(File::open(path).map_err(|e| io(0, e))?);
                *slot = Some(Arc::clone(&f));
                f
            }
        };
        let len = (r.end - r.base) as usize;
        // Only ever grown: no clearing of bytes about to be overwritten.
        if buf.len() < len {
            buf.resize(len, 0);
        }
        buf.truncate(len);
        let mut got = 0;
        while got < len {
            let Some(dst) = buf.get_mut(got..(got + STEP).min(len)) else { break };
            match file.read_at(dst, r.base + got as u64) {
                Ok(0) => break,
                Ok(k) => got += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.pool.push(buf);
                    return Err(io(r.base + got as u64, e));
                }
            }
            self.poll();
        }
        buf.truncate(got);
        Ok(buf)
    }

    /// Walks this worker's oldest region read, if its chain has come, and
    /// hands the chain on; the region waits to be routed.
    fn walk_next(&mut self) -> bool {
        let Some(&(seq, _)) = self.read.front() else { return false };
        if self.last.is_some_and(|l| seq > l) {
            // Past the end (an error earlier): not needed.
            if let Some((_, Ok(b))) = self.read.pop_front() {
                self.pool.push(b);
            }
            return true;
        }
        let Some(chain) = self.chains.remove(&seq) else { return false };
        let Some((_, got)) = self.read.pop_front() else { return false };
        let (walked, buf, next) = match got {
            Ok(buf) => self.walk(seq, buf, chain),
            Err(e) => {
                self.error = Some(e.into());
                (Vec::new(), Vec::new(), None)
            }
        };
        // The next region's worker waits for the chain.
        match next {
            Some(c) if seq + 1 < self.regions.len() => {
                self.send((seq + 1) % self.n, Msg::Chain(seq + 1, c))
            }
            _ => {
                for to in 0..self.n {
                    self.send(to, Msg::End(seq));
                }
            }
        }
        self.routing.push_back((seq, walked, buf));
        true
    }

    /// Routes the oldest region walked and sends it to every worker.
    fn route_next(&mut self) -> bool {
        let Some((seq, walked, buf)) = self.routing.pop_front() else { return false };
        let chunk = Arc::new(self.route(walked, buf));
        for to in 0..self.n {
            self.send(to, Msg::Chunk(seq, Arc::clone(&chunk)));
        }
        true
    }

    /// The records of region `seq`, read into `buf`, from where `chain`
    /// says: the frames and sweeps in order, the buffer (grown if its last
    /// record ran past it), and the chain for the next region (`None`
    /// after a fatal error, kept in `self.error`).
    fn walk(
        &mut self,
        seq: usize,
        buf: Vec<u8>,
        chain: Chain,
    ) -> (Vec<Walked>, Vec<u8>, Option<Chain>) {
        let Some(&r) = self.regions.get(seq) else { return (Vec::new(), buf, None) };
        let path = self.paths.get(r.file).map(PathBuf::as_path).unwrap_or(Path::new(""));
        let file_len = self.lens.get(r.file).copied().unwrap_or(0);
        let Some(Some(file)) = self.files.get(r.file).cloned() else {
            return (Vec::new(), buf, None);
        };
        let mut src: &File = &file;
        let read_on = r.base + buf.len() as u64;
        if let Err(e) = src.seek(SeekFrom::Start(read_on)) {
            let offset = read_on;
            self.error = Some(
                CaptureError { file: path.to_path_buf(), offset, what: Problem::Io(e) }.into(),
            );
            return (Vec::new(), buf, None);
        }
        let Chain { resume, mut next_sweep, mut frames } = chain;
        let first = resume.is_none();
        let mut f =
            match CaptureFile::region(path, src, buf, r.base, resume.as_ref(), r.end, file_len) {
                Ok(f) => f,
                Err(e) => {
                    self.error = Some(e.into());
                    return (Vec::new(), Vec::new(), None);
                }
            };
        if first {
            self.stats.files += 1;
        }
        let mut walked = self.spare_walked.pop().unwrap_or_default();
        let failed = loop {
            let (ts, wire_len, link, len) = match f.next_packet() {
                Ok(Some(p)) => (p.ts, p.origlen.max(p.caplen), p.link, p.data.len() as u32),
                Ok(None) => break false,
                Err(e) if !e.what.is_fatal() => {
                    self.stats.skipped += 1;
                    continue;
                }
                Err(e) => {
                    self.error = Some(e.into());
                    break true;
                }
            };
            let ts = Timestamp(u64::try_from(ts.as_nanos()).unwrap_or(0));
            self.stats.packets += 1;
            self.stats.bytes += u64::from(wire_len);
            frames += 1;
            if crate::sweep_due(&mut next_sweep, ts) {
                walked.push(Walked::Sweep { ts, index: frames });
            }
            let off = f.data_at() as u32;
            walked.push(Walked::Frame { ts, index: frames, wire_len, link, off, len });
        };
        let resume = f.resume();
        let buf = f.into_buffer();
        if failed {
            return (walked, buf, None);
        }
        // The next region of the same file goes on from here; the first
        // of the next file starts with its header.
        let same_file = self.regions.get(seq + 1).is_some_and(|n| n.file == r.file);
        let resume = same_file.then_some(resume);
        (walked, buf, Some(Chain { resume, next_sweep, frames }))
    }

    /// Decodes the frames walked in `data` and gives each to its worker,
    /// every sweep to all.
    fn route(&mut self, mut walked: Vec<Walked>, data: Vec<u8>) -> Chunk {
        let mut work = self.spare_work.pop().unwrap_or_else(|| vec![Vec::new(); self.n]);
        for (i, w) in walked.iter().copied().enumerate() {
            if i % STEP_ITEMS == STEP_ITEMS - 1 {
                self.poll();
            }
            match w {
                Walked::Sweep { ts, index } => {
                    for list in &mut work {
                        list.push(Work::Sweep { ts, index });
                    }
                }
                Walked::Frame { ts, index, wire_len, link, off, len } => {
                    let (o, l) = (off as usize, len as usize);
                    let frame = data.get(o..o + l).unwrap_or_default();
                    let to = owner_fast(&self.hasher, link, frame, self.n).unwrap_or_else(|| {
                        // A frame that does not decode goes to worker 0,
                        // which counts it.
                        sekimori_proto::packet::decode(link, frame)
                            .map_or(0, |p| owner(&self.hasher, &p, self.n))
                    });
                    if let Some(list) = work.get_mut(to) {
                        list.push(Work::Packet { ts, index, wire_len, link, off, len });
                    }
                }
            }
        }
        walked.clear();
        self.spare_walked.push(walked);
        Chunk { data, work, reader: self.me }
    }

    /// A region's buffer and lists, free again.
    fn spare(&mut self, mut c: Chunk) {
        c.work.iter_mut().for_each(Vec::clear);
        self.spare_work.push(c.work);
        self.pool.push(c.data);
    }

    /// Analyses this worker's packets of the next region, if it has come.
    fn analyse_next(&mut self) -> bool {
        let Some(chunk) = self.chunks.remove(&self.next_analysis) else { return false };
        self.next_analysis += 1;
        let mine = chunk.work.get(self.me).map(Vec::as_slice).unwrap_or_default();
        for (i, w) in mine.iter().enumerate() {
            if i % STEP_ITEMS == STEP_ITEMS - 1 {
                self.poll();
            }
            if i % TOUCH == 0 {
                touch(&chunk.data, mine.get(i + TOUCH..).unwrap_or_default());
            }
            let an = &mut self.an;
            match *w {
                Work::Sweep { ts, index } => {
                    an.batch = index;
                    an.table.expire(ts);
                    if !an.table.ended.is_empty() {
                        an.drain_ended();
                    }
                }
                Work::Packet { ts, index, wire_len, link, off, len } => {
                    an.batch = index;
                    let (o, l) = (off as usize, len as usize);
                    let frame = chunk.data.get(o..o + l).unwrap_or_default();
                    match sekimori_proto::packet::decode(link, frame) {
                        Ok(p) => an.packet(ts, wire_len, &p),
                        Err(_) => an.stats.undecodable += 1,
                    }
                }
            }
        }
        // The last worker done with the region gives the buffer back.
        if let Some(c) = Arc::into_inner(chunk) {
            if c.reader == self.me {
                self.spare(c);
            } else {
                self.send(c.reader, Msg::Spare(c));
            }
        }
        true
    }
}

/// Analyses capture files on `opts.threads` workers (see the module
/// documentation). Falls back to the single-threaded analysis for one
/// thread, or when an input is not a regular file or not a pcap/pcapng
/// capture.
pub fn analyze_files<P: AsRef<Path>>(paths: &[P], opts: &Options) -> Outcome {
    analyze_in_regions(paths, opts, REGION)
}

/// [`analyze_files`] with regions of `region` bytes.
fn analyze_in_regions<P: AsRef<Path>>(paths: &[P], opts: &Options, region: u64) -> Outcome {
    let n = opts.threads.max(1);
    let region = region.max(1);
    let paths: Vec<PathBuf> = paths.iter().map(|p| p.as_ref().to_path_buf()).collect();
    let mut lens = Vec::with_capacity(paths.len());
    for p in &paths {
        match std::fs::metadata(p) {
            Ok(m) if m.is_file() => lens.push(m.len()),
            _ => return crate::analyze_serial(&paths, opts),
        }
    }
    let captures = paths.iter().all(|p| match CaptureFile::open(p) {
        Ok(_) => true,
        Err(e) => !matches!(e.what, Problem::BadMagic(_)),
    });
    if n == 1 || !captures || paths.is_empty() {
        return crate::analyze_serial(&paths, opts);
    }
    let mut regions = Vec::new();
    for (file, &len) in lens.iter().enumerate() {
        let mut base = 0;
        loop {
            let end = (base + region).min(len);
            regions.push(Region { file, base, end });
            if end >= len {
                break;
            }
            base = end;
        }
    }
    let mut wopts = opts.clone();
    wopts.threads = 1;
    wopts.flows.max_flows = (opts.flows.max_flows / n).max(1);
    let (senders, inboxes): (Vec<_>, Vec<_>) = (0..n).map(|_| channel::<Msg>()).unzip();
    let first = Chain { resume: None, next_sweep: Timestamp(0), frames: 0 };
    let _ = senders.first().map(|s| s.send(Msg::Chain(0, first)));
    let finished: Vec<Option<Finished>> = std::thread::scope(|s| {
        let mut handles = Vec::with_capacity(n);
        for (me, inbox) in inboxes.into_iter().enumerate() {
            let mut an = Analyzer::new(&wopts);
            an.sweeps = false;
            an.log = Some(Vec::new());
            let w = Worker {
                me,
                n,
                paths: &paths,
                lens: &lens,
                regions: &regions,
                inbox,
                peers: senders.clone(),
                files: (0..paths.len()).map(|_| None).collect(),
                pool: Vec::new(),
                spare_work: Vec::new(),
                spare_walked: Vec::new(),
                routing: VecDeque::new(),
                buffers: 0,
                next_read: me,
                read: VecDeque::new(),
                chains: BTreeMap::new(),
                chunks: BTreeMap::new(),
                next_analysis: 0,
                last: None,
                aborted: false,
                hasher: foldhash::fast::FixedState::with_seed(0x5e4_1d0),
                an,
                stats: Stats::default(),
                error: None,
            };
            let peers = senders.clone();
            handles.push(s.spawn(move || {
                let r = catch_unwind(AssertUnwindSafe(|| w.run()));
                if r.is_err() {
                    for p in &peers {
                        let _ = p.send(Msg::Abort);
                    }
                }
                r.ok()
            }));
        }
        handles.into_iter().map(|h| h.join().ok().flatten()).collect()
    });
    drop(senders);
    let mut read = Stats::default();
    let mut done = Vec::with_capacity(n);
    let mut error = None;
    for f in finished {
        // A worker failed: the single-threaded analysis instead.
        let Some(f) = f else { return crate::analyze_serial(&paths, opts) };
        read.files += f.read.files;
        read.packets += f.read.packets;
        read.bytes += f.read.bytes;
        read.skipped += f.read.skipped;
        read.undecodable += f.read.undecodable;
        error = error.or(f.error);
        done.push(f.done);
    }
    Outcome { analysis: merge(opts, read, done), error }
}

/// Replays the logged events in the single-threaded order into one
/// analysis, adds the workers' conversations and counters, and finishes.
fn merge(opts: &Options, reader: Stats, done: Vec<Done>) -> crate::Analysis {
    let mut master = Analyzer::new(opts);
    let mut stats = reader;
    let mut peak = 0;
    let mut log = Vec::new();
    for d in done {
        log.extend(d.log);
        for c in d.conversations {
            let (Ok(client), Ok(server)) =
                (c.client_asset.parse::<IpAddr>(), c.server_asset.parse::<IpAddr>())
            else {
                continue;
            };
            master.conversations.add_record(client, server, c.service, c.start, c.counts);
        }
        stats.undecodable += d.stats.undecodable;
        stats.non_ip += d.stats.non_ip;
        stats.fragments += d.stats.fragments;
        stats.imported_flows += d.stats.imported_flows;
        stats.export_errors += d.stats.export_errors;
        let t = &mut stats.table;
        t.created += d.stats.table.created;
        t.evicted += d.stats.table.evicted;
        t.idle += d.stats.table.idle;
        t.active_splits += d.stats.table.active_splits;
        peak += d.flows_peak;
    }
    stats.table.peak = peak;
    log.sort_by(|a, b| {
        (a.batch, a.phase, a.seq).cmp(&(b.batch, b.phase, b.seq)).then_with(|| {
            match (&a.event, &b.event) {
                (Event::Ended(x), Event::Ended(y)) => x.sort_key().cmp(&y.sort_key()),
                _ => std::cmp::Ordering::Equal,
            }
        })
    });
    for l in log {
        master.replay(l.event);
    }
    let mut a = master.finish();
    a.stats = stats;
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pcaps() -> Vec<std::path::PathBuf> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/pcaps");
        let mut v: Vec<_> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "pcap" || e == "pcapng"))
            .collect();
        v.sort();
        v
    }

    fn json(o: &Outcome) -> String {
        serde_json::to_string(&o.analysis).unwrap_or_default()
    }

    fn same(one: &Outcome, many: &Outcome, what: &str) {
        let (a, b) = (json(one), json(many));
        if a != b {
            let at = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
            let from = at.saturating_sub(300);
            panic!(
                "{what} differs at byte {at}:\n one: {}\nmany: {}",
                a.get(from..(at + 200).min(a.len())).unwrap_or(""),
                b.get(from..(at + 200).min(b.len())).unwrap_or("")
            );
        }
        assert_eq!(one.analysis.conversations, many.analysis.conversations, "{what}");
        let (a, b) = (one.analysis.stats, many.analysis.stats);
        assert_eq!(
            (a.files, a.packets, a.bytes, a.undecodable, a.skipped, a.non_ip, a.table.created),
            (b.files, b.packets, b.bytes, b.undecodable, b.skipped, b.non_ip, b.table.created),
            "{what}"
        );
        assert_eq!(
            one.error.as_ref().map(ToString::to_string),
            many.error.as_ref().map(ToString::to_string),
            "{what}"
        );
    }

    /// The key read from a frame's bytes is the key the decode gives it,
    /// on every frame of every capture where it is read (a mismatch would
    /// split a flow across workers).
    #[test]
    fn the_fast_owner_is_the_decoded_owner() {
        let hasher = foldhash::fast::FixedState::with_seed(0x5e4_1d0);
        let (mut fast, mut frames) = (0, 0);
        for f in pcaps() {
            let Ok(mut cap) = CaptureFile::open(&f) else { continue };
            while let Ok(Some(p)) = cap.next_packet() {
                frames += 1;
                for n in 2..=4 {
                    let Some(to) = owner_fast(&hasher, p.link, p.data, n) else { continue };
                    fast += 1;
                    if let Ok(d) = sekimori_proto::packet::decode(p.link, p.data) {
                        assert_eq!(to, owner(&hasher, &d, n), "{}", f.display());
                    }
                }
            }
        }
        // Most frames of the captures take the fast path, and not all.
        assert!(fast > frames && fast < 3 * frames, "{fast} of {frames}");
    }

    #[test]
    fn two_to_four_workers_give_the_single_threaded_output_on_every_capture() {
        let files = pcaps();
        assert!(files.len() >= 28);
        for f in &files {
            let one = crate::analyze_files(std::slice::from_ref(f), &Options::default());
            // Regression: three workers differed on
            // ndpi_ipsec_isakmp_esp.pcap while the idle lists could fall out
            // of time order (which flows a sweep reached depended on what
            // else the table held).
            for threads in [2, 3, 4] {
                // Whole files, and regions small enough that records and
                // pcapng blocks cross their ends everywhere.
                for region in [REGION, 4096, 997] {
                    let opts = Options { threads, ..Options::default() };
                    let many = analyze_in_regions(std::slice::from_ref(f), &opts, region);
                    let what =
                        format!("{} ({threads} workers, {region}-byte regions)", f.display());
                    same(&one, &many, &what);
                }
            }
        }
        // All 28 captures as one analysis: time jumps back between files.
        let one = crate::analyze_files(&files, &Options::default());
        for region in [REGION, 3000] {
            let many =
                analyze_in_regions(&files, &Options { threads: 3, ..Options::default() }, region);
            same(&one, &many, &format!("28 captures as one input, {region}-byte regions"));
        }
    }

    /// zeek_smb2.pcap's records four times over, each copy an hour later,
    /// as one capture: larger than a read buffer, so the reader hands
    /// several buffers to the workers, packets split across refills.
    #[test]
    fn a_capture_larger_than_a_read_buffer_gives_the_single_threaded_output() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/pcaps/zeek_smb2.pcap");
        let bytes = std::fs::read(&src).unwrap_or_default();
        let (head, records) = bytes.split_at(24.min(bytes.len()));
        let mut big = head.to_vec();
        for copy in 0..4u32 {
            let mut r = records;
            while r.len() >= 16 {
                let word = |at: usize| {
                    u32::from_le_bytes(
                        r.get(at..at + 4).and_then(|b| b.try_into().ok()).unwrap_or_default(),
                    )
                };
                let end = (16 + word(8) as usize).min(r.len());
                big.extend((word(0) + copy * 3600).to_le_bytes());
                big.extend(r.get(4..end).unwrap_or_default());
                r = r.get(end..).unwrap_or_default();
            }
        }
        assert!(big.len() > 6 << 20, "{}", big.len());
        let Ok(dir) = tempfile::tempdir() else { return };
        let path = dir.path().join("big.pcap");
        std::fs::write(&path, &big).ok();
        let one = crate::analyze_files(std::slice::from_ref(&path), &Options::default());
        assert_eq!(one.analysis.stats.packets, 4 * 1178);
        for threads in [2, 3] {
            let opts = Options { threads, ..Options::default() };
            let many = analyze_files(std::slice::from_ref(&path), &opts);
            same(&one, &many, &format!("{threads} workers"));
        }
    }

    #[test]
    fn a_damaged_capture_keeps_what_was_read_and_the_error() {
        let dir = tempfile::tempdir().ok();
        let Some(dir) = dir else { return };
        let pcaps = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/pcaps");
        let cut = |name: &str, keep: fn(usize) -> usize, flip_trailer: bool| {
            let mut bytes = std::fs::read(pcaps.join(name)).unwrap_or_default();
            bytes.truncate(keep(bytes.len()));
            if flip_trailer {
                // The trailing length of the first pcapng block past the
                // middle (little-endian file).
                let mut at = 0;
                while at < bytes.len() / 2 {
                    let len = bytes
                        .get(at + 4..at + 8)
                        .and_then(|b| b.try_into().ok())
                        .map_or(0, u32::from_le_bytes) as usize;
                    at += len.max(12);
                }
                let len = bytes
                    .get(at + 4..at + 8)
                    .and_then(|b| b.try_into().ok())
                    .map_or(0, u32::from_le_bytes) as usize;
                if let Some(b) = bytes.get_mut(at + len - 4) {
                    *b ^= 0x10;
                }
            }
            let path = dir.path().join(format!("damaged-{name}"));
            std::fs::write(&path, &bytes).ok();
            path
        };
        let half = cut("zeek_smb2.pcap", |n| n / 2, false);
        // A pcapng block whose trailing length is wrong, half-way in.
        let ng = cut("ndpi_http_user_agent.pcapng", |n| n, true);
        let ok = pcaps.join("zeek_dhcp.pcap");
        let inputs = [
            vec![half.clone()],
            vec![ng.clone()],
            // Reading stops at the damaged file: the one after is not read.
            vec![ok.clone(), half, ok.clone()],
            vec![ok.clone(), ng, ok],
        ];
        for files in &inputs {
            let one = crate::analyze_files(files, &Options::default());
            assert!(
                matches!(one.error, Some(Error::Capture(_))),
                "{files:?} stop with a capture error: {:?}",
                one.error
            );
            for region in [REGION, 4096, 1000] {
                for threads in [2, 3] {
                    let opts = Options { threads, ..Options::default() };
                    let many = analyze_in_regions(files, &opts, region);
                    same(
                        &one,
                        &many,
                        &format!("{files:?}, {threads} workers, {region}-byte regions"),
                    );
                }
            }
        }
    }
}
