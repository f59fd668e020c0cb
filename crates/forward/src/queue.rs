//! The durable queue of one destination: alerts wait here, on disk, until
//! the destination has taken them.
//!
//! # Files
//!
//! One directory per destination holds:
//!
//! - segment files `<first-seq, 20 digits>.seg`, append-only, each a run
//!   of records:
//!
//!   ```text
//!   offset 0   u32 LE  CRC-32 (IEEE) of bytes 4..16+len
//!          4   u32 LE  len: payload length (at most RECORD_MAX)
//!          8   u64 LE  seq: record number, strictly increasing, from 1
//!         16   len bytes payload (the message as sent, without framing)
//!   ```
//!
//! - `lock`, empty, locked (advisory, exclusive) while a queue is open, so
//!   two processes never write one queue;
//! - `cursor`, 16 bytes: `"SKFC"`, the sequence number of the last
//!   delivered record (u64 LE), and the CRC-32 of those 12 bytes. It is
//!   written to `cursor.tmp`, synced, renamed over `cursor`, and the
//!   directory synced, so it is always either the old or the new value.
//!
//! # Guarantees
//!
//! - [`Queue::append`] returns only after the record and (for a new
//!   segment) the directory entry are synced: an acknowledged alert
//!   survives a crash.
//! - Records are handed out in sequence order; [`Queue::ack`] moves the
//!   cursor, so after a restart delivery resumes exactly after the last
//!   acknowledged record (at-least-once: a record sent but not yet
//!   acknowledged when the process died is sent again).
//! - A record that fails its check (a torn write at the tail after a
//!   crash, bit rot) is reported as [`ForwardError::CorruptRecord`] with its
//!   file and offset. Since the length of a damaged record cannot be
//!   trusted, the rest of that segment is skipped; all other segments are
//!   kept. A damaged tail of the last segment is cut off so new records
//!   follow good ones.
//! - A segment is deleted once every record in it is delivered, except the
//!   one being appended to, which is deleted when it is full, delivered and
//!   replaced by a new one.
//! - The undelivered bytes are capped. At the cap, [`Queue::append`] refuses
//!   with [`ForwardError::QueueFull`] and counts the refusal: the caller
//!   knows, nothing is dropped silently, and what was queued earlier is
//!   never pushed out by what comes later (the oldest alerts are the ones a
//!   SIEM most needs to see once it is back).

use std::collections::{BTreeMap, VecDeque};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::error::ForwardError;

/// Bytes before each record's payload.
pub const RECORD_HEADER: usize = 16;
/// Largest payload of one record.
pub const RECORD_MAX: usize = 1024 * 1024;

const SEGMENT_SUFFIX: &str = ".seg";
const CURSOR: &str = "cursor";
const CURSOR_TMP: &str = "cursor.tmp";
const CURSOR_MAGIC: &[u8; 4] = b"SKFC";
const LOCK: &str = "lock";

/// Sizes of a queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueOptions {
    /// A segment at or above this size is closed and a new one started.
    pub segment_bytes: u64,
    /// Cap on undelivered bytes (headers included).
    pub max_bytes: u64,
}

/// One record handed out for delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub seq: u64,
    pub payload: Vec<u8>,
}

/// What [`Queue::peek`] found: records in order, and the damaged ones it
/// skipped on the way.
#[derive(Debug, Default)]
pub struct Batch {
    pub records: Vec<Record>,
    pub skipped: Vec<ForwardError>,
}

/// The durable queue of one destination. All methods take `&self`; appends
/// are serialised among themselves, and the short in-memory updates are
/// the only thing delivery and appends wait on each other for.
#[derive(Debug)]
pub struct Queue {
    dir: PathBuf,
    name: String,
    opts: QueueOptions,
    appender: Mutex<Option<Active>>,
    state: Mutex<State>,
    cursor_file: Mutex<()>,
    /// Held locked for the queue's life.
    _lock: File,
}

#[derive(Debug)]
struct Active {
    first: u64,
    file: File,
}

#[derive(Debug)]
struct State {
    segments: BTreeMap<u64, Segment>,
    index: VecDeque<Pos>,
    next_seq: u64,
    delivered: u64,
    queued_bytes: u64,
    /// The segment appends go to; `None` until the next append opens one.
    active: Option<u64>,
    refused: u64,
}

#[derive(Debug)]
struct Segment {
    path: PathBuf,
    len: u64,
    last_seq: Option<u64>,
}

#[derive(Debug, Clone, Copy)]
struct Pos {
    seq: u64,
    segment: u64,
    offset: u64,
    len: u32,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> ForwardError + '_ {
    move |source| ForwardError::QueueIo { path: path.to_owned(), source }
}

fn sync_dir(dir: &Path) -> Result<(), ForwardError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io_err(dir))
}

fn record_crc(header_tail: &[u8], payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(header_tail);
    h.update(payload);
    h.finalize()
}

fn encode_record(seq: u64, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    let mut buf = Vec::with_capacity(RECORD_HEADER + payload.len());
    buf.extend_from_slice(&[0; 4]);
    buf.extend_from_slice(&len.to_le_bytes());
    buf.extend_from_slice(&seq.to_le_bytes());
    buf.extend_from_slice(payload);
    let crc = record_crc(&buf[4..RECORD_HEADER], payload);
    buf[..4].copy_from_slice(&crc.to_le_bytes());
    buf
}

struct Header {
    crc: u32,
    len: usize,
    seq: u64,
}

fn decode_header(h: &[u8; RECORD_HEADER]) -> Header {
    let [c0, c1, c2, c3, l0, l1, l2, l3, s0, s1, s2, s3, s4, s5, s6, s7] = *h;
    Header {
        crc: u32::from_le_bytes([c0, c1, c2, c3]),
        len: u32::from_le_bytes([l0, l1, l2, l3]) as usize,
        seq: u64::from_le_bytes([s0, s1, s2, s3, s4, s5, s6, s7]),
    }
}

/// What scanning one segment found.
struct Scan {
    records: Vec<(u64, u64, u32)>,
    valid_len: u64,
    file_len: u64,
    damage: Option<(u64, &'static str)>,
}

/// Reads a segment record by record, checking each, and stops at the
/// first damaged one.
fn scan_segment(path: &Path, after: u64) -> Result<Scan, ForwardError> {
    let file = File::open(path).map_err(io_err(path))?;
    let file_len = file.metadata().map_err(io_err(path))?.len();
    let mut r = BufReader::with_capacity(64 * 1024, file);
    let mut records = Vec::new();
    let mut offset = 0u64;
    let mut prev = after;
    let mut payload = Vec::new();
    let damage = loop {
        if offset == file_len {
            break None;
        }
        if file_len - offset < RECORD_HEADER as u64 {
            break Some((offset, "truncated_header"));
        }
        let mut h = [0u8; RECORD_HEADER];
        r.read_exact(&mut h).map_err(io_err(path))?;
        let head = decode_header(&h);
        if head.len > RECORD_MAX {
            break Some((offset, "length_out_of_range"));
        }
        if file_len - offset - (RECORD_HEADER as u64) < head.len as u64 {
            break Some((offset, "truncated_record"));
        }
        payload.resize(head.len, 0);
        r.read_exact(&mut payload).map_err(io_err(path))?;
        if record_crc(&h[4..], &payload) != head.crc {
            break Some((offset, "checksum_mismatch"));
        }
        if head.seq <= prev {
            break Some((offset, "sequence_not_increasing"));
        }
        prev = head.seq;
        #[allow(clippy::cast_possible_truncation, reason = "len <= RECORD_MAX")]
        records.push((head.seq, offset, head.len as u32));
        offset += (RECORD_HEADER + head.len) as u64;
    };
    Ok(Scan { records, valid_len: offset, file_len, damage })
}

fn segment_path(dir: &Path, first: u64) -> PathBuf {
    dir.join(format!("{first:020}{SEGMENT_SUFFIX}"))
}

fn read_cursor(dir: &Path, damage: &mut Vec<ForwardError>) -> Result<u64, ForwardError> {
    let path = dir.join(CURSOR);
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(io_err(&path)(e)),
    };
    let ok = bytes.len() == 16 && bytes.get(..4) == Some(CURSOR_MAGIC.as_slice());
    let seq = bytes.get(4..12).and_then(|s| <[u8; 8]>::try_from(s).ok()).map(u64::from_le_bytes);
    let crc = bytes.get(12..16).and_then(|s| <[u8; 4]>::try_from(s).ok()).map(u32::from_le_bytes);
    match (ok, seq, crc) {
        (true, Some(seq), Some(crc)) if crc32fast::hash(&bytes[..12]) == crc => Ok(seq),
        _ => {
            // Start from the oldest record still on disk: a damaged cursor
            // means sending some alerts again, never losing any.
            damage.push(ForwardError::CorruptRecord {
                file: path,
                offset: 0,
                reason: "cursor_checksum_mismatch",
            });
            Ok(0)
        }
    }
}

fn write_cursor(dir: &Path, seq: u64) -> Result<(), ForwardError> {
    let tmp = dir.join(CURSOR_TMP);
    let mut bytes = Vec::with_capacity(16);
    bytes.extend_from_slice(CURSOR_MAGIC);
    bytes.extend_from_slice(&seq.to_le_bytes());
    let crc = crc32fast::hash(&bytes);
    bytes.extend_from_slice(&crc.to_le_bytes());
    let mut f = File::create(&tmp).map_err(io_err(&tmp))?;
    f.write_all(&bytes).and_then(|()| f.sync_all()).map_err(io_err(&tmp))?;
    let path = dir.join(CURSOR);
    fs::rename(&tmp, &path).map_err(io_err(&path))?;
    sync_dir(dir)
}

impl Queue {
    /// Opens (creating if needed) the queue in `dir`. `name` is the
    /// destination's, for errors. Damage found on the way is returned
    /// beside the queue: the good records are kept and the caller reports
    /// the rest.
    pub fn open(
        dir: &Path,
        name: &str,
        opts: QueueOptions,
    ) -> Result<(Queue, Vec<ForwardError>), ForwardError> {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let lock_path = dir.join(LOCK);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_err(&lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Err(ForwardError::QueueLocked { path: dir.to_owned() });
            }
            Err(fs::TryLockError::Error(e)) => return Err(io_err(&lock_path)(e)),
        }
        let mut damage = Vec::new();
        let delivered = read_cursor(dir, &mut damage)?;
        let tmp = dir.join(CURSOR_TMP);
        if tmp.exists() {
            fs::remove_file(&tmp).map_err(io_err(&tmp))?;
        }

        let mut found = Vec::new();
        for entry in fs::read_dir(dir).map_err(io_err(dir))? {
            let entry = entry.map_err(io_err(dir))?;
            let name = entry.file_name();
            let Some(first) = name
                .to_str()
                .and_then(|n| n.strip_suffix(SEGMENT_SUFFIX))
                .and_then(|n| n.parse::<u64>().ok())
            else {
                continue;
            };
            found.push((first, entry.path()));
        }
        found.sort_unstable_by_key(|(first, _)| *first);

        let mut st = State {
            segments: BTreeMap::new(),
            index: VecDeque::new(),
            next_seq: 1,
            delivered,
            queued_bytes: 0,
            active: None,
            refused: 0,
        };
        let mut last_seen = 0u64;
        let count = found.len();
        for (i, (first, path)) in found.into_iter().enumerate() {
            let is_last = i + 1 == count;
            let scan = scan_segment(&path, last_seen)?;
            let mut len = scan.file_len;
            if let Some((offset, reason)) = scan.damage {
                damage.push(ForwardError::CorruptRecord { file: path.clone(), offset, reason });
                if is_last {
                    let f = OpenOptions::new().write(true).open(&path).map_err(io_err(&path))?;
                    f.set_len(scan.valid_len).and_then(|()| f.sync_all()).map_err(io_err(&path))?;
                    len = scan.valid_len;
                }
            }
            let mut last_seq = None;
            for (seq, offset, rlen) in scan.records {
                if seq > delivered {
                    st.index.push_back(Pos { seq, segment: first, offset, len: rlen });
                    st.queued_bytes += (RECORD_HEADER + rlen as usize) as u64;
                }
                last_seq = Some(seq);
                last_seen = seq;
            }
            st.segments.insert(first, Segment { path, len, last_seq });
        }
        st.next_seq = last_seen.max(delivered) + 1;

        // Segments fully delivered (all but the last) go now.
        let last_key = st.segments.keys().next_back().copied();
        let done: Vec<u64> = st
            .segments
            .iter()
            .filter(|(k, s)| Some(**k) != last_key && s.last_seq.is_none_or(|l| l <= delivered))
            .map(|(k, _)| *k)
            .collect();
        for k in &done {
            if let Some(s) = st.segments.remove(k) {
                fs::remove_file(&s.path).map_err(io_err(&s.path))?;
            }
        }
        if !done.is_empty() {
            sync_dir(dir)?;
        }

        let mut active = None;
        if let Some((&first, seg)) = st.segments.iter().next_back()
            && seg.len < opts.segment_bytes
        {
            let file =
                OpenOptions::new().append(true).open(&seg.path).map_err(io_err(&seg.path))?;
            active = Some(Active { first, file });
            st.active = Some(first);
        }
        let queue = Queue {
            dir: dir.to_owned(),
            name: name.to_owned(),
            opts,
            appender: Mutex::new(active),
            state: Mutex::new(st),
            cursor_file: Mutex::new(()),
            _lock: lock,
        };
        Ok((queue, damage))
    }

    /// Appends one record and syncs it to disk; returns its sequence
    /// number. At the cap, refuses with [`ForwardError::QueueFull`].
    pub fn append(&self, payload: &[u8]) -> Result<u64, ForwardError> {
        if payload.len() > RECORD_MAX {
            return Err(ForwardError::RecordTooLarge { len: payload.len(), max: RECORD_MAX });
        }
        let rec_len = (RECORD_HEADER + payload.len()) as u64;
        let mut ap = lock(&self.appender);
        let (seq, rotate, retire) = {
            let mut st = lock(&self.state);
            if st.queued_bytes + rec_len > self.opts.max_bytes {
                st.refused += 1;
                return Err(ForwardError::QueueFull {
                    destination: self.name.clone(),
                    queued_bytes: st.queued_bytes,
                    cap_bytes: self.opts.max_bytes,
                });
            }
            let current = ap.as_ref().map(|a| a.first);
            let full = current
                .and_then(|c| st.segments.get(&c))
                .is_none_or(|s| s.len >= self.opts.segment_bytes);
            // A full segment being replaced goes now if all of it is
            // delivered (otherwise the next `ack` past it deletes it).
            let delivered = st.delivered;
            let retire = if full {
                current.filter(|c| {
                    st.segments.get(c).is_some_and(|s| s.last_seq.is_none_or(|l| l <= delivered))
                })
            } else {
                None
            };
            (st.next_seq, full, retire)
        };
        if rotate {
            let path = segment_path(&self.dir, seq);
            let file = OpenOptions::new()
                .append(true)
                .create_new(true)
                .open(&path)
                .map_err(io_err(&path))?;
            sync_dir(&self.dir)?;
            *ap = Some(Active { first: seq, file });
            let mut st = lock(&self.state);
            st.segments.insert(seq, Segment { path, len: 0, last_seq: None });
            st.active = Some(seq);
            if let Some(old) = retire
                && let Some(s) = st.segments.remove(&old)
            {
                drop(st);
                fs::remove_file(&s.path).map_err(io_err(&s.path))?;
            }
        }
        let Some(active) = ap.as_mut() else {
            return Err(ForwardError::QueueIo {
                path: self.dir.clone(),
                source: io::Error::other("no active segment"),
            });
        };
        let first = active.first;
        let path = segment_path(&self.dir, first);
        let offset = lock(&self.state).segments.get(&first).map_or(0, |s| s.len);
        let buf = encode_record(seq, payload);
        if let Err(e) = active.file.write_all(&buf).and_then(|()| active.file.sync_data()) {
            // Whatever part was written is cut off; if even that fails, the
            // segment is retired so new records never follow a torn one.
            if active.file.set_len(offset).and_then(|()| active.file.sync_data()).is_err() {
                *ap = None;
                lock(&self.state).active = None;
            }
            return Err(ForwardError::QueueIo { path, source: e });
        }
        let mut st = lock(&self.state);
        if let Some(s) = st.segments.get_mut(&first) {
            s.len = offset + rec_len;
            s.last_seq = Some(seq);
        }
        #[allow(clippy::cast_possible_truncation, reason = "len <= RECORD_MAX")]
        st.index.push_back(Pos { seq, segment: first, offset, len: payload.len() as u32 });
        st.queued_bytes += rec_len;
        st.next_seq = seq + 1;
        Ok(seq)
    }

    /// The oldest undelivered records, in order: at most `max_records`, and
    /// at most `max_bytes` of payload unless the first alone is larger.
    /// Records that fail their check on reading are skipped (and
    /// reported).
    pub fn peek(&self, max_records: usize, max_bytes: usize) -> Result<Batch, ForwardError> {
        let picked: Vec<(Pos, PathBuf)> = {
            let st = lock(&self.state);
            let mut total = 0usize;
            let mut out = Vec::new();
            for p in st.index.iter().take(max_records) {
                if !out.is_empty() && total + p.len as usize > max_bytes {
                    break;
                }
                total += p.len as usize;
                let path = st.segments.get(&p.segment).map(|s| s.path.clone());
                out.push((*p, path.unwrap_or_else(|| segment_path(&self.dir, p.segment))));
            }
            out
        };
        let mut batch = Batch::default();
        let mut open: Option<(u64, File)> = None;
        for (pos, path) in picked {
            if open.as_ref().is_none_or(|(seg, _)| *seg != pos.segment) {
                open = Some((pos.segment, File::open(&path).map_err(io_err(&path))?));
            }
            let Some((_, file)) = &open else {
                continue;
            };
            let mut buf = vec![0u8; RECORD_HEADER + pos.len as usize];
            file.read_exact_at(&mut buf, pos.offset).map_err(io_err(&path))?;
            let mut h = [0u8; RECORD_HEADER];
            h.copy_from_slice(&buf[..RECORD_HEADER]);
            let head = decode_header(&h);
            let payload = buf.split_off(RECORD_HEADER);
            let reason = if head.len != pos.len as usize || head.seq != pos.seq {
                Some("record_changed_on_disk")
            } else if record_crc(&h[4..], &payload) != head.crc {
                Some("checksum_mismatch")
            } else {
                None
            };
            match reason {
                None => batch.records.push(Record { seq: pos.seq, payload }),
                Some(reason) => {
                    batch.skipped.push(ForwardError::CorruptRecord {
                        file: path,
                        offset: pos.offset,
                        reason,
                    });
                    let mut st = lock(&self.state);
                    if let Some(i) = st.index.iter().position(|p| p.seq == pos.seq) {
                        st.index.remove(i);
                        st.queued_bytes -= (RECORD_HEADER + pos.len as usize) as u64;
                    }
                    // Later records of this batch are still handed out:
                    // their own checks vouch for them.
                }
            }
        }
        Ok(batch)
    }

    /// Marks every record up to `through` delivered: persists the cursor,
    /// then deletes the segments that hold nothing undelivered.
    pub fn ack(&self, through: u64) -> Result<(), ForwardError> {
        let done: Vec<PathBuf> = {
            let mut st = lock(&self.state);
            while let Some(p) = st.index.front().copied() {
                if p.seq > through {
                    break;
                }
                st.index.pop_front();
                st.queued_bytes -= (RECORD_HEADER + p.len as usize) as u64;
            }
            st.delivered = st.delivered.max(through);
            let delivered = st.delivered;
            let active = st.active;
            let keys: Vec<u64> = st
                .segments
                .iter()
                .take_while(|(k, s)| {
                    Some(**k) != active && s.last_seq.is_none_or(|l| l <= delivered)
                })
                .map(|(k, _)| *k)
                .collect();
            keys.iter().filter_map(|k| st.segments.remove(k)).map(|s| s.path).collect()
        };
        {
            let _one_writer = lock(&self.cursor_file);
            let delivered = lock(&self.state).delivered;
            write_cursor(&self.dir, delivered)?;
        }
        for path in &done {
            fs::remove_file(path).map_err(io_err(path))?;
        }
        if !done.is_empty() {
            sync_dir(&self.dir)?;
        }
        Ok(())
    }

    /// Undelivered records.
    pub fn len(&self) -> usize {
        lock(&self.state).index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Undelivered bytes (headers included): what the cap applies to.
    pub fn queued_bytes(&self) -> u64 {
        lock(&self.state).queued_bytes
    }

    /// Records refused at the cap since the queue was opened.
    pub fn refused(&self) -> u64 {
        lock(&self.state).refused
    }

    /// The sequence number of the last delivered record (0: none yet).
    pub fn delivered_through(&self) -> u64 {
        lock(&self.state).delivered
    }

    /// Segment files on disk, oldest first.
    pub fn segment_files(&self) -> Vec<PathBuf> {
        lock(&self.state).segments.values().map(|s| s.path.clone()).collect()
    }

    /// The queue's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}
