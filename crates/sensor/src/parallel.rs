//! The analysis on several cores: one reader thread and `N − 1` flow-table
//! workers (`N` = `--threads`), the packets left where they were read.
//!
//! With two threads there is one worker, and it is simply the
//! single-threaded analyzer fed by the reader (`pipeline`): the reader
//! copies and walks the capture and decodes each frame; the analyzer gets
//! the decoded packets (their payload slices as offsets into the read
//! buffer, `Decoded`) and does the rest. No routing, no second decode,
//! nothing to merge: one analyzer sees every packet in order. The decode
//! is on the reader's side because the reader has just copied the frame
//! into its own cache: decoding it on the other core first costs a
//! cross-core miss per frame (the analyzer then took longer than the whole
//! one-thread analysis). The rest of these notes are about three threads
//! and more.
//!
//! The reader reads the capture in large blocks into buffers it never
//! overwrites ([`CaptureFile::share_buffers`]). It decodes each frame's
//! headers only to pick its worker, by a hash of the flow key that is the
//! same both ways (both directions of a flow land on the same worker;
//! non-IP frames go to worker 0), and notes where the frame is in the
//! buffer. When the capture reader moves on to the next buffer, the
//! filled one is sent, with each worker's list of packets in it, to all
//! the workers at once (one `Arc` per buffer: no copy per packet, no
//! allocation per packet). Buffers come back to the reader for reuse once
//! the last worker is done with them, and at most `IN_FLIGHT` (4) are queued
//! per worker, so the memory between threads is bounded whatever the
//! capture's size. Each worker is an [`Analyzer`] of its own: it decodes
//! its packets again and runs the flow table, identification and
//! conversations on them.
//!
//! The output is the single-threaded output, byte for byte, because:
//! - idle sweeps run at the same packet times in every worker: the reader
//!   decides them as the single-threaded analysis would and places each
//!   sweep in every worker's list, in order with its packets;
//! - whatever reaches the inventory (ended flows, imported flow records,
//!   ARP and LLDP/CDP announcements) is logged with the index of the
//!   decoded packet it happened at (the reader numbers them) and replayed
//!   at the end in the single-threaded order: per packet, imports and
//!   link-layer events first, then the flows that ended, sorted by
//!   [`FlowRecord::sort_key`] (the single-threaded analysis sorts each
//!   batch of ended flows the same way);
//! - conversation counters are sums, merged in any order.
//!
//! One difference remains. Each worker holds at most `max_flows / N`
//! flows, so when the table is full, which flow is evicted differs from
//! the single-threaded choice (the sum of the workers' peaks bounds the
//! peak). Idle expiry does not differ: every idle list is kept sorted by
//! link time ([`crate::flow::FlowTable::expire`]), so a sweep ends the
//! same flows whatever else a table holds (tests: every capture with two
//! and three workers, all captures as one input, time going back between
//! files, and a capture larger than a read buffer).
//!
//! A capture that cannot be read on stops the reader: it sends the buffer
//! holding the packets before the damage, the workers finish them, and the
//! error (file and offset) comes back with that analysis. Inputs that are
//! not captures (Zeek `conn.log`) are read by the single-threaded path.
//! The reader reads each file once, in order, so a pipe needs no
//! fallback.
//!
//! Cost: the reader's share is reading (the copy from the page cache),
//! walking the record headers and one header decode per frame; a
//! worker's is a second decode of its own frames and everything else.
//! The frame bytes are never copied between threads.

use std::hash::BuildHasher;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use sekimori_capture::{CaptureFile, Problem};
use sekimori_proto::App;
use sekimori_proto::Fact;
use sekimori_proto::packet::{Layer3, LinkType, NonIp, Packet, Transport};

use crate::conversation::Conversation;
use crate::flow::Timestamp;
use crate::record::FlowRecord;
use crate::{Analyzer, Error, Options, Outcome, Stats};

/// Something that reaches the inventory, in the order it must be replayed.
#[derive(Debug)]
pub(crate) struct Logged {
    /// Index of the decoded packet it happened at (`u64::MAX`: at the
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

/// Where one packet is in a [`Chunk`], and what the capture said of it;
/// or a sweep.
#[derive(Clone, Copy, Debug)]
struct Item {
    ts: Timestamp,
    /// Index of the decoded packet (what happens at it is logged with it).
    index: u64,
    wire_len: u32,
    link: LinkType,
    /// The frame's bytes: `data[off..off + len]`; `len == SWEEP_ITEM`
    /// marks a sweep.
    off: u32,
    len: u32,
}

const SWEEP_ITEM: u32 = u32::MAX;

/// A read buffer of the capture, as the reader filled it, and each
/// worker's packets in it (in file order). Shared by all workers; the last
/// one to drop it sends `data` back to the reader.
#[derive(Debug)]
struct Chunk {
    data: Vec<u8>,
    /// Per worker.
    items: Vec<Vec<Item>>,
    /// Two threads ([`pipeline`]): every decodable frame, decoded.
    decoded: Vec<Decoded>,
}

/// A frame the reader decoded for the analyzer ([`pipeline`]): the packet
/// with its one byte slice (a TCP or UDP payload, an LLDP or CDP PDU) cut
/// out, and where that slice is in the chunk.
#[derive(Clone, Copy, Debug)]
struct Decoded {
    ts: Timestamp,
    wire_len: u32,
    packet: Packet<'static>,
    /// The slice: `data[off..off + len]`.
    off: u32,
    len: u32,
}

impl Decoded {
    /// `p` decoded from `frame`, its slice noted relative to the frame's
    /// start (the reader adds the frame's place in the buffer).
    #[inline]
    fn detach(ts: Timestamp, wire_len: u32, p: &Packet<'_>, frame: &[u8]) -> Decoded {
        let mut packet = Packet {
            src_mac: p.src_mac,
            dst_mac: p.dst_mac,
            vlan: p.vlan,
            tunnel: p.tunnel,
            l3: Layer3::NonIp(NonIp::Other { ethertype: 0 }),
        };
        let mut slice: &[u8] = &[];
        packet.l3 = match p.l3 {
            Layer3::Ip { ip, transport } => {
                let transport = match transport {
                    Transport::Tcp { sport, dport, seq, ack, flags, payload } => {
                        slice = payload;
                        Transport::Tcp { sport, dport, seq, ack, flags, payload: &[] }
                    }
                    Transport::Udp { sport, dport, payload } => {
                        slice = payload;
                        Transport::Udp { sport, dport, payload: &[] }
                    }
                    Transport::Icmp { kind, code } => Transport::Icmp { kind, code },
                    Transport::Icmpv6 { kind, code } => Transport::Icmpv6 { kind, code },
                    Transport::Other { protocol } => Transport::Other { protocol },
                };
                Layer3::Ip { ip, transport }
            }
            Layer3::NonIp(n) => Layer3::NonIp(match n {
                NonIp::Lldp(pdu) => {
                    slice = pdu;
                    NonIp::Lldp(&[])
                }
                NonIp::Cdp(pdu) => {
                    slice = pdu;
                    NonIp::Cdp(&[])
                }
                NonIp::Arp { sender_mac, sender_ip, target_ip } => {
                    NonIp::Arp { sender_mac, sender_ip, target_ip }
                }
                NonIp::Other { ethertype } => NonIp::Other { ethertype },
            }),
        };
        // The decoder lends slices of the frame it was given: the offset is
        // inside it (an empty slice may point anywhere: it stays empty).
        let off = (slice.as_ptr() as usize).wrapping_sub(frame.as_ptr() as usize);
        let (off, len) = if slice.is_empty() || off.saturating_add(slice.len()) > frame.len() {
            (0, 0)
        } else {
            (off as u32, slice.len() as u32)
        };
        Decoded { ts, wire_len, packet, off, len }
    }

    /// The packet, its slice taken from `data` (the chunk it was read in).
    #[inline]
    fn attach<'a>(&self, data: &'a [u8]) -> Packet<'a> {
        let (o, l) = (self.off as usize, self.len as usize);
        let slice = data.get(o..o + l).unwrap_or_default();
        let mut p: Packet<'a> = self.packet;
        match &mut p.l3 {
            Layer3::Ip { transport: Transport::Tcp { payload, .. }, .. }
            | Layer3::Ip { transport: Transport::Udp { payload, .. }, .. } => *payload = slice,
            Layer3::NonIp(NonIp::Lldp(pdu)) | Layer3::NonIp(NonIp::Cdp(pdu)) => *pdu = slice,
            _ => {}
        }
        p
    }
}

/// Chunks queued per worker (bounds the memory between threads: each is
/// one read buffer, 2 MiB unless a pcapng block was larger).
const IN_FLIGHT: usize = 4;

/// A worker's end result.
struct Done {
    log: Vec<Logged>,
    conversations: Vec<Conversation>,
    stats: Stats,
    flows_peak: u64,
}

/// Worker `me`: analyses its packets of every chunk and runs the sweeps
/// the reader placed among them.
fn worker(me: usize, rx: Receiver<Arc<Chunk>>, back: SyncSender<Chunk>, opts: Options) -> Done {
    let mut an = Analyzer::new(&opts);
    an.sweeps = false;
    an.log = Some(Vec::new());
    for chunk in rx {
        for it in chunk.items.get(me).into_iter().flatten() {
            an.batch = it.index;
            if it.len == SWEEP_ITEM {
                an.table.expire(it.ts);
                if !an.table.ended.is_empty() {
                    an.drain_ended();
                }
                continue;
            }
            let (o, len) = (it.off as usize, it.len as usize);
            let Some(frame) = chunk.data.get(o..o + len) else { continue };
            if let Ok(p) = sekimori_proto::packet::decode(it.link, frame) {
                an.packet(it.ts, it.wire_len, &p);
            }
        }
        // The last worker done with the chunk gives it back for reuse (the
        // reader may have finished: then it is dropped).
        if let Some(c) = Arc::into_inner(chunk) {
            let _ = back.try_send(c);
        }
    }
    an.batch = u64::MAX;
    an.table.drain(crate::EndReason::End);
    an.drain_ended();
    let log = an.log.take().unwrap_or_default();
    let bucket = std::time::Duration::from_secs(an.conversations.bucket_secs());
    let conv = std::mem::replace(&mut an.conversations, crate::Conversations::new(bucket));
    Done {
        log,
        conversations: conv.into_sorted(|ip| ip.to_string()),
        flows_peak: an.table.stats.peak,
        stats: Stats { table: an.table.stats, ..an.stats },
    }
}

/// Analyses capture files on `opts.threads` threads: the reader and
/// `threads − 1` workers (see the module documentation). Falls back to the
/// single-threaded analysis for one thread or when an input is not a
/// pcap/pcapng capture.
pub fn analyze_files<P: AsRef<Path>>(paths: &[P], opts: &Options) -> Outcome {
    let threads = opts.threads.max(1);
    let captures = paths.iter().all(|p| match CaptureFile::open(p.as_ref()) {
        Ok(_) => true,
        Err(e) => !matches!(e.what, Problem::BadMagic(_)),
    });
    if threads == 1 || !captures {
        return crate::analyze_serial(paths, opts);
    }
    // The reader is busy too (the copy from the page cache is a large part
    // of a one-thread analysis): two threads are the reader and one
    // analysis, a pipeline over two cores; more threads add workers.
    let n = threads - 1;
    if n == 1 {
        return pipeline(paths, opts);
    }
    let mut wopts = opts.clone();
    wopts.threads = 1;
    wopts.flows.max_flows = (opts.flows.max_flows / n).max(1);
    std::thread::scope(|s| {
        // Room for more chunks than are ever in use at once, so a chunk
        // given back is never dropped (the reader would allocate, and page
        // fault, a new buffer later: with room for 8, ~30k faults a run).
        let (back_tx, back) = sync_channel::<Chunk>(4 * (IN_FLIGHT + n + 2));
        let mut lanes = Vec::with_capacity(n);
        let mut handles = Vec::with_capacity(n);
        for me in 0..n {
            let (tx, rx) = sync_channel::<Arc<Chunk>>(IN_FLIGHT);
            let (o, b) = (wopts.clone(), back_tx.clone());
            handles.push(s.spawn(move || worker(me, rx, b, o)));
            lanes.push(tx);
        }
        drop(back_tx);
        let (stats, error) = Reader::new(lanes, back, false).read_all(paths);
        let done: Vec<Done> = handles.into_iter().filter_map(|h| h.join().ok()).collect();
        Outcome { analysis: merge(opts, stats, done), error }
    })
}

/// Two threads: this one reads (the copy from the page cache, the record
/// headers) and decodes, the other runs the single-threaded analysis on
/// the decoded packets, their payloads where they were read. The output is
/// the single-threaded output by construction: one analyzer sees every
/// packet in order.
fn pipeline<P: AsRef<Path>>(paths: &[P], opts: &Options) -> Outcome {
    std::thread::scope(|s| {
        let (back_tx, back) = sync_channel::<Chunk>(4 * (IN_FLIGHT + 3));
        let (tx, rx) = sync_channel::<Arc<Chunk>>(IN_FLIGHT);
        let o = opts.clone();
        let analysis = s.spawn(move || {
            let mut an = Analyzer::new(&o);
            for chunk in rx {
                for d in &chunk.decoded {
                    an.packet(d.ts, d.wire_len, &d.attach(&chunk.data));
                }
                if let Some(c) = Arc::into_inner(chunk) {
                    let _ = back_tx.try_send(c);
                }
            }
            an
        });
        let (stats, error) = Reader::new(vec![tx], back, true).read_all(paths);
        // The analyzer counts the decoded packets and their bytes; the
        // reader files, skipped records and the frames that did not decode.
        let mut an = analysis.join().unwrap_or_else(|_| Analyzer::new(opts));
        an.stats.files += stats.files;
        an.stats.skipped += stats.skipped;
        an.stats.packets += stats.packets;
        an.stats.bytes += stats.bytes;
        an.stats.undecodable += stats.undecodable;
        Outcome { analysis: an.finish(), error }
    })
}

/// What the reader made of one frame.
enum Routed {
    /// Three threads and more: a worker and where the frame is.
    Item((usize, Item)),
    /// Two threads: the frame decoded.
    Decoded(Decoded),
}

/// The reader thread's state.
struct Reader {
    /// One queue per worker.
    lanes: Vec<SyncSender<Arc<Chunk>>>,
    /// Chunks the workers are done with: their buffers and lists are
    /// reused (no allocation or page fault per chunk once enough are in
    /// use).
    back: Receiver<Chunk>,
    /// Each worker's packets in the current read buffer.
    items: Vec<Vec<Item>>,
    /// Emptied lists for the next buffer's packets.
    spare_items: Option<Vec<Vec<Item>>>,
    /// Two threads: the frames decoded in the current read buffer, and an
    /// emptied list for the next one.
    decoded: Vec<Decoded>,
    spare_decoded: Option<Vec<Decoded>>,
    hasher: foldhash::fast::FixedState,
    next_sweep: Timestamp,
    /// Decoded packets so far.
    index: u64,
    /// Files, frames, bytes, skipped and undecodable frames (the workers
    /// count the rest).
    stats: Stats,
    /// One analyzer takes every frame ([`pipeline`]): no decode, no
    /// sweeps, no numbering here; frames and bytes are counted there.
    pipeline: bool,
}

impl Reader {
    fn new(lanes: Vec<SyncSender<Arc<Chunk>>>, back: Receiver<Chunk>, pipeline: bool) -> Reader {
        Reader {
            items: vec![Vec::new(); lanes.len()],
            spare_items: None,
            decoded: Vec::new(),
            spare_decoded: None,
            lanes,
            back,
            hasher: foldhash::fast::FixedState::with_seed(0x5e4_1d0),
            next_sweep: Timestamp(0),
            index: 0,
            stats: Stats::default(),
            pipeline,
        }
    }

    /// Reads every file in order (stopping at the first that cannot be
    /// read on), then closes the lanes: its counters and the error.
    fn read_all<P: AsRef<Path>>(mut self, paths: &[P]) -> (Stats, Option<Error>) {
        let mut error = None;
        for p in paths {
            if let Err(e) = self.file(p.as_ref()) {
                error = Some(e);
                break;
            }
        }
        (self.stats, error)
    }

    /// Reads one capture, sending each read buffer to the workers once
    /// the capture reader has moved on from it, and the last one at the
    /// end (or at a fatal error: every packet before it is sent).
    fn file(&mut self, path: &Path) -> Result<(), Error> {
        let mut file = CaptureFile::open(path)?;
        file.share_buffers();
        self.stats.files += 1;
        let end = loop {
            let next = match file.next_packet() {
                Ok(Some(p)) => {
                    let ts = Timestamp(u64::try_from(p.ts.as_nanos()).unwrap_or(0));
                    let wire_len = p.origlen.max(p.caplen);
                    Ok(Some(if self.pipeline {
                        self.decode(ts, p.link, wire_len, p.data).map(Routed::Decoded)
                    } else {
                        self.route(ts, p.link, wire_len, p.data).map(Routed::Item)
                    }))
                }
                Ok(None) => Ok(None),
                Err(e) => Err(e),
            };
            // The packets routed before are all in the retired buffer, if
            // any; the one just read is in the current one.
            if let Some(data) = file.take_retired() {
                if let Ok(mut spare) = self.back.try_recv() {
                    spare.items.iter_mut().for_each(Vec::clear);
                    self.spare_items = Some(spare.items);
                    spare.decoded.clear();
                    self.spare_decoded = Some(spare.decoded);
                    file.give_spare(spare.data);
                }
                self.send(data);
            }
            match next {
                Ok(Some(Some(Routed::Item((w, mut it))))) => {
                    it.off = file.data_at() as u32;
                    if let Some(items) = self.items.get_mut(w) {
                        items.push(it);
                    }
                }
                Ok(Some(Some(Routed::Decoded(mut d)))) => {
                    if d.len > 0 {
                        d.off += file.data_at() as u32;
                    }
                    self.decoded.push(d);
                }
                Ok(Some(None)) => {}
                Ok(None) => break Ok(()),
                Err(e) if !e.what.is_fatal() => self.stats.skipped += 1,
                Err(e) => break Err(e.into()),
            }
        };
        self.send(file.into_buffer());
        end
    }

    /// Decodes a frame and picks its worker: by a hash of the flow key
    /// that is the same both ways for IP, worker 0 for the rest (ARP,
    /// LLDP/CDP). Places the sweep due before it in every worker's items.
    /// `None` for a frame that does not decode (counted).
    #[inline]
    fn route(
        &mut self,
        ts: Timestamp,
        link: LinkType,
        wire_len: u32,
        data: &[u8],
    ) -> Option<(usize, Item)> {
        self.stats.packets += 1;
        self.stats.bytes += u64::from(wire_len);
        let Ok(p) = sekimori_proto::packet::decode(link, data) else {
            self.stats.undecodable += 1;
            return None;
        };
        self.index += 1;
        let index = self.index;
        if crate::sweep_due(&mut self.next_sweep, ts) {
            let sweep = Item { ts, index, wire_len: 0, link, off: 0, len: SWEEP_ITEM };
            for items in &mut self.items {
                items.push(sweep);
            }
        }
        let w = match &p.l3 {
            Layer3::Ip { ip, transport } => {
                let (protocol, sport, dport, _) = crate::transport_key(transport);
                let end = |ip: IpAddr, port: u16| {
                    let a = match ip {
                        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
                        IpAddr::V6(v6) => v6,
                    };
                    self.hasher.hash_one((u128::from(a), port))
                };
                // The endpoints' hashes are added: the same both ways.
                let ends = end(ip.src, sport).wrapping_add(end(ip.dst, dport));
                let h = self.hasher.hash_one((ends, protocol, p.vlan));
                ((u128::from(h) * self.items.len() as u128) >> 64) as usize
            }
            Layer3::NonIp(_) => 0,
        };
        let len = data.len() as u32;
        Some((w, Item { ts, index, wire_len, link, off: 0, len }))
    }

    /// Decodes a frame for the analyzer thread ([`pipeline`]); counts one
    /// that does not decode, as the analyzer would.
    #[inline]
    fn decode(
        &mut self,
        ts: Timestamp,
        link: LinkType,
        wire_len: u32,
        data: &[u8],
    ) -> Option<Decoded> {
        match sekimori_proto::packet::decode(link, data) {
            Ok(p) => Some(Decoded::detach(ts, wire_len, &p, data)),
            Err(_) => {
                self.stats.packets += 1;
                self.stats.bytes += u64::from(wire_len);
                self.stats.undecodable += 1;
                None
            }
        }
    }

    /// Sends one buffer with each worker's packets in it to every worker.
    fn send(&mut self, data: Vec<u8>) {
        if self.items.iter().all(Vec::is_empty) && self.decoded.is_empty() {
            return;
        }
        let next = self.spare_items.take().unwrap_or_else(|| vec![Vec::new(); self.items.len()]);
        let items = std::mem::replace(&mut self.items, next);
        let next = self.spare_decoded.take().unwrap_or_default();
        let decoded = std::mem::replace(&mut self.decoded, next);
        let chunk = Arc::new(Chunk { data, items, decoded });
        for l in &self.lanes {
            // A worker that is gone has panicked; its loss shows in the join.
            let _ = l.send(Arc::clone(&chunk));
        }
    }
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

    #[test]
    fn one_to_three_workers_give_the_single_threaded_output_on_every_capture() {
        let files = pcaps();
        assert!(files.len() >= 28);
        for f in &files {
            let one = crate::analyze_files(std::slice::from_ref(f), &Options::default());
            // Regression: three workers differed on
            // ndpi_ipsec_isakmp_esp.pcap while the idle lists could fall out
            // of time order (which flows a sweep reached depended on what
            // else the table held).
            for threads in [2, 3, 4] {
                let opts = Options { threads, ..Options::default() };
                let many = analyze_files(std::slice::from_ref(f), &opts);
                let (a, b) = (json(&one), json(&many));
                if a != b {
                    let at = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
                    let from = at.saturating_sub(300);
                    panic!(
                        "{} with {threads} threads differs at byte {at}:\n one: {}\nmany: {}",
                        f.display(),
                        a.get(from..(at + 200).min(a.len())).unwrap_or(""),
                        b.get(from..(at + 200).min(b.len())).unwrap_or("")
                    );
                }
                assert_eq!(one.analysis.conversations, many.analysis.conversations);
                let (a, b) = (one.analysis.stats, many.analysis.stats);
                assert_eq!(
                    (a.packets, a.bytes, a.table.created),
                    (b.packets, b.bytes, b.table.created)
                );
            }
        }
        // All 28 captures as one analysis: time jumps back between files.
        let one = crate::analyze_files(&files, &Options::default());
        let many = analyze_files(&files, &Options { threads: 3, ..Options::default() });
        assert!(
            json(&one) == json(&many),
            "28 captures as one input differ with 2 workers (3 threads)"
        );
    }

    /// What the reader hands the analyzer thread is the packet the
    /// analyzer would have decoded, slices and all, for every frame of
    /// every capture (placed at an offset in a larger buffer, as in a
    /// chunk).
    #[test]
    fn a_detached_packet_attaches_to_the_same_packet() {
        let mut seen = 0;
        for f in pcaps() {
            let Ok(mut file) = CaptureFile::open(&f) else { continue };
            while let Ok(Some(p)) = file.next_packet() {
                let Ok(packet) = sekimori_proto::packet::decode(p.link, p.data) else { continue };
                let mut d = Decoded::detach(Timestamp(1), 60, &packet, p.data);
                let mut chunk = vec![0xaa; 100];
                chunk.extend_from_slice(p.data);
                if d.len > 0 {
                    d.off += 100;
                }
                assert_eq!(d.attach(&chunk), packet, "{}", f.display());
                seen += 1;
            }
        }
        assert!(seen > 10_000, "{seen}");
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
            assert!(json(&one) == json(&many), "{threads} workers differ");
            assert_eq!(one.analysis.conversations, many.analysis.conversations);
            let (a, b) = (one.analysis.stats, many.analysis.stats);
            assert_eq!(
                (a.packets, a.bytes, a.undecodable, a.non_ip, a.table.created),
                (b.packets, b.bytes, b.undecodable, b.non_ip, b.table.created)
            );
        }
    }

    #[test]
    fn a_truncated_capture_keeps_what_was_read_and_the_error() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/pcaps/zeek_smb2.pcap");
        let bytes = std::fs::read(&src).unwrap_or_default();
        let dir = tempfile::tempdir().ok();
        let Some(dir) = dir else { return };
        let cut = dir.path().join("cut.pcap");
        std::fs::write(&cut, bytes.get(..bytes.len() / 2).unwrap_or(&[])).ok();
        let one = crate::analyze_files(std::slice::from_ref(&cut), &Options::default());
        let many = analyze_files(
            std::slice::from_ref(&cut),
            &Options { threads: 2, ..Options::default() },
        );
        assert_eq!(json(&one), json(&many));
        let (Some(Error::Capture(a)), Some(Error::Capture(b))) = (&one.error, &many.error) else {
            panic!("both stop with a capture error: {:?} {:?}", one.error, many.error);
        };
        assert_eq!(a.offset, b.offset);
    }
}
