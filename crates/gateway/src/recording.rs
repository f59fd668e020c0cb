//! Full recordings of tunnelled TCP connections: both byte streams, with
//! timestamps, written while they flow.
//!
//! # Writing
//!
//! [`Recorder::start`] spawns one dedicated writer thread (`sekimori-recording`)
//! that serves every session. Sessions hand it [`Bytes`] chunks (no copy) over
//! a **bounded** channel of [`RecordingConfig::channel_capacity`] messages: when
//! the disk is slower than the tunnel, [`SessionRecording::record`] waits for
//! room, so a slow disk slows the tunnel instead of growing memory. The async
//! runtime never touches a file: creating, writing, syncing and hashing all
//! happen on the writer thread.
//!
//! * **Crash safety.** The writer buffers at most 256 KiB per file and, for
//!   every file holding unsynced data, writes it out and calls `sync_data`
//!   within [`RecordingConfig::flush_interval`] (at most one second) of the
//!   first unsynced byte, and again on finish. A crash therefore loses at most
//!   the last interval; [`RecordingReader`] reads a file cut anywhere after its
//!   header and keeps every complete chunk ([`Ending::Cut`]).
//! * **Cap.** Each session records at most
//!   [`RecordingConfig::max_bytes_per_session`] payload bytes (both
//!   directions together). The chunk that crosses the cap is recorded up to
//!   the cap, later payload is forwarded by the tunnel but not recorded, and
//!   the end record and [`RecordingInfo`] say so (`truncated`,
//!   `recorded_bytes`).
//! * **Integrity.** The file is hashed (SHA-256) as it is written;
//!   [`SessionRecording::finish`] returns the digest in [`RecordingInfo`] for
//!   the audit chain without re-reading the file.
//! * **Fail closed.** When creating, writing or syncing a file fails, the
//!   session's recording is marked failed: every later
//!   [`SessionRecording::record`] (and `finish`) returns the error, and the
//!   caller closes the tunnel (`CloseReason::RecordingFailed`). Because writes
//!   are asynchronous, the failure is seen on the first `record` after the
//!   writer met it: at most the channel's contents and one flush interval of
//!   traffic pass between the failing write and the tunnel noticing.
//! * Files are created with mode 0600 and `O_EXCL` (an existing file or
//!   symlink is never followed or overwritten), named `{session_id}.skrec`, in
//!   a directory created 0700 when missing.
//!
//! # File format (`.skrec`, version 1)
//!
//! All integers are big-endian.
//!
//! ```text
//! magic        7 bytes   "SKREC" 0x01 "\n"
//! header_len   u32       length of the JSON header, at most 64 KiB
//! header       JSON      RecordingHeader: session, request, user, asset, port,
//!                        client, target, started_at (RFC 3339)
//! records, each:
//!   kind       u8        0 = up (client → device), 1 = down (device → client),
//!                        0xFF = end
//!   at         i64       Unix time in microseconds
//!   len        u32       payload length: at most 16 MiB for data,
//!                        64 KiB for the end record
//!   payload    len bytes the bytes as they flowed (data records), or for the
//!                        end record a JSON object
//!                        {"up_bytes","down_bytes","chunks","truncated"}
//! ```
//!
//! The end record is the last record of a finished recording; its totals
//! must match the data records before it. A file without one was not
//! finished (crash, or the session handle was dropped). Readers check every
//! length against its cap before reading and report errors with the file, the
//! byte offset and the field.

use std::collections::HashMap;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::net::SocketAddr;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use aws_lc_rs::digest;
use bytes::Bytes;
use sekimori_types::{AccessRequestId, RecordingInfo, TunnelSessionId};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// First bytes of every recording file (format version 1).
pub const MAGIC: &[u8; 7] = b"SKREC\x01\n";
/// Longest JSON header a recording may have.
pub const MAX_HEADER_BYTES: u32 = 64 * 1024;
/// Longest payload of one data record; longer chunks are split when written.
pub const MAX_CHUNK_BYTES: u32 = 16 * 1024 * 1024;
/// Longest payload of the end record.
pub const MAX_END_BYTES: u32 = 64 * 1024;
/// File name extension of recordings.
pub const FILE_EXTENSION: &str = "skrec";
/// Longest allowed [`RecordingConfig::flush_interval`].
pub const MAX_FLUSH_INTERVAL: Duration = Duration::from_secs(1);

const KIND_UP: u8 = 0;
const KIND_DOWN: u8 = 1;
const KIND_END: u8 = 0xFF;
/// kind (1) + at (8) + len (4).
const RECORD_HEAD_BYTES: u64 = 13;
const WRITE_BUFFER_BYTES: usize = 256 * 1024;

/// How the recorder writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingConfig {
    /// Directory of the recording files (created 0700 when missing).
    pub dir: PathBuf,
    /// Most payload bytes recorded per session, both directions together.
    pub max_bytes_per_session: u64,
    /// Longest time written data may stay unsynced; at most one second.
    pub flush_interval: Duration,
    /// Chunks that may wait for the writer thread (over all sessions) before
    /// `record` waits; memory is bounded by this times the largest chunk.
    pub channel_capacity: usize,
}

impl RecordingConfig {
    /// Defaults: 4 GiB per session, flush every second, 256 queued chunks.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            max_bytes_per_session: 4 << 30,
            flush_interval: MAX_FLUSH_INTERVAL,
            channel_capacity: 256,
        }
    }
}

/// Who, what and where: the JSON header at the start of every recording.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordingHeader {
    pub session: TunnelSessionId,
    pub request: AccessRequestId,
    pub user: String,
    pub asset: String,
    pub port: u16,
    /// The vendor's address as the gateway saw it.
    pub client: SocketAddr,
    /// The device address the gateway connected to.
    pub target: SocketAddr,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
}

/// Which way bytes flowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Client (vendor) → device.
    Up,
    /// Device → client (vendor).
    Down,
}

impl Direction {
    fn kind(self) -> u8 {
        match self {
            Direction::Up => KIND_UP,
            Direction::Down => KIND_DOWN,
        }
    }
}

/// What went wrong with a recording. Cheap to clone: a failed session keeps
/// returning the same error.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RecordingError {
    /// Creating, writing or syncing a recording file failed.
    #[error("recording {file}: {action} failed: {source}")]
    Write {
        file: String,
        action: &'static str,
        #[source]
        source: Arc<io::Error>,
    },
    /// Reading a recording file failed.
    #[error("recording {file}: at byte {offset}: reading failed: {source}")]
    Read {
        file: String,
        offset: u64,
        #[source]
        source: Arc<io::Error>,
    },
    /// A recording file is malformed.
    #[error("recording {file}: at byte {offset}: {field} {problem}")]
    Format { file: String, offset: u64, field: &'static str, problem: String },
    /// A recording cannot be started as asked (e.g. its header is too big).
    #[error("recording {file}: {problem}")]
    Invalid { file: String, problem: String },
    /// The writer thread is gone; nothing can be recorded.
    #[error("the recording writer has stopped")]
    WriterStopped,
}

fn file_name(session: TunnelSessionId) -> String {
    format!("{session}.{FILE_EXTENSION}")
}

fn micros(at: OffsetDateTime) -> i64 {
    // Every OffsetDateTime (years ±9999) fits in i64 microseconds.
    i64::try_from(at.unix_timestamp_nanos() / 1000).unwrap_or(i64::MAX)
}

/// Handle to the writer thread. Cloning is cheap; the thread ends when the
/// last `Recorder` and [`SessionRecording`] are dropped.
#[derive(Debug, Clone)]
pub struct Recorder {
    tx: mpsc::Sender<Msg>,
    max_bytes: u64,
    next_key: Arc<AtomicU64>,
}

impl Recorder {
    /// Creates the directory if needed and starts the writer thread. Refuses a
    /// flush interval of zero or above one second and a zero channel capacity.
    pub fn start(cfg: RecordingConfig) -> io::Result<Recorder> {
        if cfg.flush_interval.is_zero() || cfg.flush_interval > MAX_FLUSH_INTERVAL {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "recording flush interval must be above zero and at most one second",
            ));
        }
        if cfg.channel_capacity == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "recording channel capacity must be at least 1",
            ));
        }
        fs::DirBuilder::new().recursive(true).mode(0o700).create(&cfg.dir)?;
        if !fs::metadata(&cfg.dir)?.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                format!("{} is not a directory", cfg.dir.display()),
            ));
        }
        let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build()?;
        let (tx, rx) = mpsc::channel(cfg.channel_capacity);
        let mut writer = Writer {
            dir: cfg.dir,
            interval: cfg.flush_interval,
            files: HashMap::new(),
            next_flush: None,
        };
        std::thread::Builder::new()
            .name("sekimori-recording".into())
            .spawn(move || runtime.block_on(writer.run(rx)))?;
        Ok(Recorder {
            tx,
            max_bytes: cfg.max_bytes_per_session,
            next_key: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Creates `{session}.skrec` and writes (and syncs) its header. An error
    /// means the session cannot be recorded: do not open the tunnel.
    pub async fn begin(&self, header: RecordingHeader) -> Result<SessionRecording, RecordingError> {
        let file = file_name(header.session);
        let json = serde_json::to_vec(&header).map_err(|e| RecordingError::Invalid {
            file: file.clone(),
            problem: format!("header cannot be encoded: {e}"),
        })?;
        if json.len() > MAX_HEADER_BYTES as usize {
            return Err(RecordingError::Invalid {
                file,
                problem: format!("header is {} bytes, more than {MAX_HEADER_BYTES}", json.len()),
            });
        }
        let shared = Arc::new(Shared {
            key: self.next_key.fetch_add(1, Ordering::Relaxed),
            file,
            recorded: AtomicU64::new(0),
            truncated: AtomicBool::new(false),
            failed: OnceLock::new(),
        });
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Msg::Begin { shared: shared.clone(), header_json: json, reply })
            .await
            .map_err(|_| RecordingError::WriterStopped)?;
        answer.await.map_err(|_| RecordingError::WriterStopped)??;
        Ok(SessionRecording { tx: self.tx.clone(), shared, max_bytes: self.max_bytes })
    }
}

/// One session's recording. `Send + Sync`: share it (`&` or `Arc`) between the
/// two directions, then [`finish`](Self::finish) it once both are done.
/// Dropping it without finishing closes the file without an end record (it
/// then reads as cut).
#[derive(Debug)]
pub struct SessionRecording {
    tx: mpsc::Sender<Msg>,
    shared: Arc<Shared>,
    max_bytes: u64,
}

impl SessionRecording {
    /// The recording's file name (`{session}.skrec`).
    pub fn file_name(&self) -> &str {
        &self.shared.file
    }

    /// Records `data` as having flowed in `dir` at `at`. Waits while the writer
    /// is behind (backpressure). Payload past the session's cap is dropped
    /// (and the recording marked truncated); that is not an error. Returns an
    /// error once writing this recording has failed: close the tunnel.
    pub async fn record(
        &self,
        dir: Direction,
        at: OffsetDateTime,
        data: Bytes,
    ) -> Result<(), RecordingError> {
        if let Some(e) = self.shared.failed.get() {
            return Err(e.clone());
        }
        if data.is_empty() {
            return Ok(());
        }
        let wanted = data.len() as u64;
        let max = self.max_bytes;
        let before =
            match self.shared.recorded.fetch_update(Ordering::AcqRel, Ordering::Acquire, |cur| {
                (cur < max).then(|| cur + wanted.min(max - cur))
            }) {
                Ok(before) => before,
                Err(_) => {
                    // Already at the cap.
                    self.shared.truncated.store(true, Ordering::Release);
                    return Ok(());
                }
            };
        let fits = wanted.min(max - before);
        let mut data = if fits < wanted {
            self.shared.truncated.store(true, Ordering::Release);
            data.slice(..fits as usize)
        } else {
            data
        };
        let at = micros(at);
        while !data.is_empty() {
            let part = data.split_to(data.len().min(MAX_CHUNK_BYTES as usize));
            self.tx
                .send(Msg::Data { shared: self.shared.clone(), kind: dir.kind(), at, data: part })
                .await
                .map_err(|_| RecordingError::WriterStopped)?;
        }
        Ok(())
    }

    /// Writes the end record (at `ended_at`), syncs and closes the file, and
    /// returns what the audit chain needs. Fails if any write failed.
    pub async fn finish(self, ended_at: OffsetDateTime) -> Result<RecordingInfo, RecordingError> {
        if let Some(e) = self.shared.failed.get() {
            return Err(e.clone());
        }
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Msg::Finish { shared: self.shared.clone(), at: micros(ended_at), reply })
            .await
            .map_err(|_| RecordingError::WriterStopped)?;
        answer.await.map_err(|_| RecordingError::WriterStopped)?
    }
}

/// State shared by a session handle and the writer thread.
#[derive(Debug)]
struct Shared {
    key: u64,
    file: String,
    /// Payload bytes accepted for recording (reserved against the cap).
    recorded: AtomicU64,
    truncated: AtomicBool,
    /// Set once by the writer when this file failed.
    failed: OnceLock<RecordingError>,
}

enum Msg {
    Begin {
        shared: Arc<Shared>,
        header_json: Vec<u8>,
        reply: oneshot::Sender<Result<(), RecordingError>>,
    },
    Data {
        shared: Arc<Shared>,
        kind: u8,
        at: i64,
        data: Bytes,
    },
    Finish {
        shared: Arc<Shared>,
        at: i64,
        reply: oneshot::Sender<Result<RecordingInfo, RecordingError>>,
    },
    /// Tests: swap the file under an open recording (e.g. for `/dev/full`).
    #[cfg(test)]
    ReplaceFile {
        key: u64,
        file: File,
    },
}

/// The end record's JSON payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndTotals {
    /// Payload bytes recorded client → device.
    pub up_bytes: u64,
    /// Payload bytes recorded device → client.
    pub down_bytes: u64,
    /// Data records in the file.
    pub chunks: u64,
    /// The cap was reached: more payload flowed than was recorded.
    pub truncated: bool,
}

struct OpenFile {
    shared: Arc<Shared>,
    out: BufWriter<File>,
    hash: digest::Context,
    file_bytes: u64,
    totals: EndTotals,
    /// When the oldest unsynced data was written.
    dirty_since: Option<Instant>,
}

impl OpenFile {
    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes)?;
        self.hash.update(bytes);
        self.file_bytes += bytes.len() as u64;
        Ok(())
    }

    fn write_record(&mut self, kind: u8, at: i64, payload: &[u8]) -> io::Result<()> {
        let mut head = [0u8; RECORD_HEAD_BYTES as usize];
        head[0] = kind;
        head[1..9].copy_from_slice(&at.to_be_bytes());
        let len = u32::try_from(payload.len()).map_err(io::Error::other)?;
        head[9..13].copy_from_slice(&len.to_be_bytes());
        self.write(&head)?;
        self.write(payload)
    }

    fn sync(&mut self) -> io::Result<()> {
        self.out.flush()?;
        self.out.get_ref().sync_data()?;
        self.dirty_since = None;
        Ok(())
    }
}

struct Writer {
    dir: PathBuf,
    interval: Duration,
    files: HashMap<u64, OpenFile>,
    /// Earliest time some file's unsynced data must be synced.
    next_flush: Option<Instant>,
}

impl Writer {
    async fn run(&mut self, mut rx: mpsc::Receiver<Msg>) {
        let mut next_sweep = Instant::now() + self.interval;
        loop {
            // Outer `None`: timed out; inner `None`: every sender is gone.
            let msg = if self.files.is_empty() {
                Some(rx.recv().await)
            } else {
                // With nothing dirty, still wake now and then to close the
                // files of dropped sessions.
                let wake = self.next_flush.map_or(next_sweep, |t| t.min(next_sweep));
                tokio::time::timeout_at(wake, rx.recv()).await.ok()
            };
            match msg {
                Some(Some(msg)) => self.handle(msg),
                Some(None) => break,
                None => {}
            }
            self.flush_due();
            let now = Instant::now();
            if now >= next_sweep {
                self.close_abandoned();
                next_sweep = now + self.interval;
            }
        }
        // Every handle is gone: whatever is still open was abandoned.
        for (_, mut f) in self.files.drain() {
            if let Err(e) = f.sync() {
                failure(&f.shared, "syncing", e);
            }
        }
    }

    fn handle(&mut self, msg: Msg) {
        match msg {
            Msg::Begin { shared, header_json, reply } => {
                let result = self.begin(shared, &header_json);
                let _ = reply.send(result);
            }
            Msg::Data { shared, kind, at, data } => {
                let Some(f) = self.files.get_mut(&shared.key) else {
                    return; // failed earlier
                };
                let written = f.write_record(kind, at, &data);
                match written {
                    Ok(()) => {
                        let n = data.len() as u64;
                        if kind == KIND_UP {
                            f.totals.up_bytes += n;
                        } else {
                            f.totals.down_bytes += n;
                        }
                        f.totals.chunks += 1;
                        if f.dirty_since.is_none() {
                            let now = Instant::now();
                            f.dirty_since = Some(now);
                            let due = now + self.interval;
                            self.next_flush = Some(self.next_flush.map_or(due, |t| t.min(due)));
                        }
                    }
                    Err(e) => self.fail(shared.key, "writing", e),
                }
            }
            Msg::Finish { shared, at, reply } => {
                let _ = reply.send(self.finish(&shared, at));
            }
            #[cfg(test)]
            Msg::ReplaceFile { key, file } => {
                if let Some(f) = self.files.get_mut(&key) {
                    f.out = BufWriter::with_capacity(WRITE_BUFFER_BYTES, file);
                }
            }
        }
    }

    fn begin(&mut self, shared: Arc<Shared>, header_json: &[u8]) -> Result<(), RecordingError> {
        let path = self.dir.join(&shared.file);
        let err = |action: &'static str| {
            let file = shared.file.clone();
            move |e: io::Error| RecordingError::Write { file, action, source: Arc::new(e) }
        };
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(err("creating the file"))?;
        let mut f = OpenFile {
            shared: shared.clone(),
            out: BufWriter::with_capacity(WRITE_BUFFER_BYTES, file),
            hash: digest::Context::new(&digest::SHA256),
            file_bytes: 0,
            totals: EndTotals { up_bytes: 0, down_bytes: 0, chunks: 0, truncated: false },
            dirty_since: None,
        };
        let len = u32::try_from(header_json.len())
            .map_err(|e| err("writing the header")(io::Error::other(e)))?;
        f.write(MAGIC)
            .and_then(|()| f.write(&len.to_be_bytes()))
            .and_then(|()| f.write(header_json))
            .and_then(|()| f.sync())
            .map_err(err("writing the header"))?;
        // Make the new directory entry durable too.
        File::open(&self.dir).and_then(|d| d.sync_all()).map_err(err("syncing the directory"))?;
        self.files.insert(shared.key, f);
        Ok(())
    }

    fn finish(&mut self, shared: &Shared, at: i64) -> Result<RecordingInfo, RecordingError> {
        let Some(mut f) = self.files.remove(&shared.key) else {
            // Only a failure closes a file whose handle is alive.
            return Err(shared.failed.get().cloned().unwrap_or_else(|| RecordingError::Invalid {
                file: shared.file.clone(),
                problem: "is not open".into(),
            }));
        };
        f.totals.truncated = f.shared.truncated.load(Ordering::Acquire);
        let written = serde_json::to_vec(&f.totals)
            .map_err(io::Error::other)
            .and_then(|end| f.write_record(KIND_END, at, &end))
            .and_then(|()| f.sync());
        if let Err(e) = written {
            let e = failure(&f.shared, "finishing", e);
            return Err(e);
        }
        Ok(RecordingInfo {
            file: f.shared.file.clone(),
            file_bytes: f.file_bytes,
            sha256: hex::encode(f.hash.finish().as_ref()),
            recorded_bytes: f.totals.up_bytes + f.totals.down_bytes,
            truncated: f.totals.truncated,
        })
    }

    /// Syncs every file holding unsynced data once the earliest deadline has
    /// passed (files that became dirty later are synced early, never late).
    fn flush_due(&mut self) {
        let Some(due) = self.next_flush else { return };
        if Instant::now() < due {
            return;
        }
        self.next_flush = None;
        let mut failed = Vec::new();
        for (key, f) in &mut self.files {
            if f.dirty_since.is_some()
                && let Err(e) = f.sync()
            {
                failed.push((*key, e));
            }
        }
        for (key, e) in failed {
            self.fail(key, "syncing", e);
        }
    }

    /// Closes files whose session handle was dropped without `finish`.
    fn close_abandoned(&mut self) {
        let gone: Vec<u64> = self
            .files
            .iter()
            .filter(|(_, f)| Arc::strong_count(&f.shared) == 1)
            .map(|(k, _)| *k)
            .collect();
        for key in gone {
            if let Some(mut f) = self.files.remove(&key) {
                tracing::warn!(file = %f.shared.file, "recording dropped without finish; closed without an end record");
                if let Err(e) = f.sync() {
                    failure(&f.shared, "syncing", e);
                }
            }
        }
    }

    fn fail(&mut self, key: u64, action: &'static str, e: io::Error) {
        if let Some(f) = self.files.remove(&key) {
            failure(&f.shared, action, e);
            // Dropping `f` closes the file; the unflushed buffer is lost, the
            // file reads as cut.
        }
    }
}

fn failure(shared: &Shared, action: &'static str, e: io::Error) -> RecordingError {
    tracing::error!(file = %shared.file, action, error = %e, "recording failed");
    let err = RecordingError::Write { file: shared.file.clone(), action, source: Arc::new(e) };
    let _ = shared.failed.set(err.clone());
    err
}

// ---------------------------------------------------------------------------
// Reading

/// One data record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    pub direction: Direction,
    pub at: OffsetDateTime,
    pub data: Vec<u8>,
}

/// How a recording file ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// The end record was read: the recording was finished.
    Clean { ended_at: OffsetDateTime, totals: EndTotals },
    /// The file stops without an end record (crash, or the session was not
    /// finished). Every complete record before `complete_bytes` was read; a
    /// partial record after it was ignored.
    Cut { complete_bytes: u64 },
}

impl Ending {
    pub fn is_clean(&self) -> bool {
        matches!(self, Ending::Clean { .. })
    }
}

/// Streams a recording: the header, then [`Chunk`]s from the iterator, then
/// [`ending`](Self::ending). Reads one record at a time (never the whole
/// file). After an error the iterator ends.
pub struct RecordingReader<R> {
    src: Source<R>,
    header: RecordingHeader,
    counted: EndTotals,
    ending: Option<Ending>,
    done: bool,
}

impl<R> fmt::Debug for RecordingReader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordingReader")
            .field("name", &self.src.name)
            .field("offset", &self.src.offset)
            .field("header", &self.header)
            .field("ending", &self.ending)
            .finish_non_exhaustive()
    }
}

/// Opens a recording file for streaming.
pub fn read_recording(path: &Path) -> Result<RecordingReader<BufReader<File>>, RecordingError> {
    let name = path
        .file_name()
        .map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
    let file = File::open(path).map_err(|e| RecordingError::Read {
        file: name.clone(),
        offset: 0,
        source: Arc::new(e),
    })?;
    RecordingReader::new(name, BufReader::with_capacity(256 * 1024, file))
}

impl<R: Read> RecordingReader<R> {
    /// Reads and checks the magic and header. `name` names the file in errors.
    /// A file that ends inside its header is an error (a recording's header
    /// is synced before any data is accepted).
    pub fn new(name: impl Into<String>, input: R) -> Result<Self, RecordingError> {
        let mut src = Source { name: name.into(), input, offset: 0 };
        let mut magic = [0u8; MAGIC.len()];
        src.read_header_part(&mut magic, "magic")?;
        if &magic != MAGIC {
            return Err(src.format(0, "magic", "is not SKREC version 1".into()));
        }
        let mut len = [0u8; 4];
        src.read_header_part(&mut len, "header length")?;
        let len = u32::from_be_bytes(len);
        if len > MAX_HEADER_BYTES {
            return Err(src.format(
                MAGIC.len() as u64,
                "header length",
                format!("{len} exceeds {MAX_HEADER_BYTES}"),
            ));
        }
        let mut json = vec![0u8; len as usize];
        let at = src.offset;
        src.read_header_part(&mut json, "header")?;
        let header = serde_json::from_slice(&json)
            .map_err(|e| src.format(at, "header", format!("is not valid: {e}")))?;
        Ok(RecordingReader {
            src,
            header,
            counted: EndTotals { up_bytes: 0, down_bytes: 0, chunks: 0, truncated: false },
            ending: None,
            done: false,
        })
    }

    /// The header: who, what, where, when.
    pub fn header(&self) -> &RecordingHeader {
        &self.header
    }

    /// The file's name as used in errors.
    pub fn name(&self) -> &str {
        &self.src.name
    }

    /// How the file ended; `None` until the iterator has returned `None`
    /// (and after an error).
    pub fn ending(&self) -> Option<&Ending> {
        self.ending.as_ref()
    }

    /// The next data record, `Ok(None)` at the end (clean or cut).
    pub fn next_chunk(&mut self) -> Result<Option<Chunk>, RecordingError> {
        if self.done {
            return Ok(None);
        }
        let result = self.read_record();
        if !matches!(result, Ok(Some(_))) {
            self.done = true;
        }
        result
    }

    fn read_record(&mut self) -> Result<Option<Chunk>, RecordingError> {
        let src = &mut self.src;
        let start = src.offset;
        let mut head = [0u8; RECORD_HEAD_BYTES as usize];
        if src.fill(&mut head)? < head.len() {
            return Ok(self.cut(start));
        }
        let kind = head[0];
        let mut at = [0u8; 8];
        at.copy_from_slice(&head[1..9]);
        let at_micros = i64::from_be_bytes(at);
        let mut len = [0u8; 4];
        len.copy_from_slice(&head[9..13]);
        let len = u32::from_be_bytes(len);
        let direction = match kind {
            KIND_UP => Some(Direction::Up),
            KIND_DOWN => Some(Direction::Down),
            KIND_END => None,
            other => {
                return Err(src.format(
                    start,
                    "record kind",
                    format!("{other:#04x} is not 0 (up), 1 (down) or 0xff (end)"),
                ));
            }
        };
        let (cap, field) = match direction {
            Some(_) => (MAX_CHUNK_BYTES, "chunk length"),
            None => (MAX_END_BYTES, "end record length"),
        };
        if len > cap {
            return Err(src.format(start + 9, field, format!("{len} exceeds {cap}")));
        }
        let at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(at_micros) * 1000).map_err(
            |_| src.format(start + 1, "timestamp", format!("{at_micros} µs is out of range")),
        )?;
        let payload_at = src.offset;
        // Grows with what is actually there: a cut file claiming a long
        // chunk costs no more memory than its bytes.
        let mut payload = Vec::with_capacity((len as usize).min(64 * 1024));
        let got = (&mut src.input)
            .take(u64::from(len))
            .read_to_end(&mut payload)
            .map_err(|e| src.read_error(payload_at, e))?;
        src.offset += got as u64;
        if got < len as usize {
            return Ok(self.cut(start));
        }
        let Some(direction) = direction else {
            let totals = self.check_end(payload_at, &payload)?;
            self.ending = Some(Ending::Clean { ended_at: at, totals });
            return Ok(None);
        };
        match direction {
            Direction::Up => self.counted.up_bytes += u64::from(len),
            Direction::Down => self.counted.down_bytes += u64::from(len),
        }
        self.counted.chunks += 1;
        Ok(Some(Chunk { direction, at, data: payload }))
    }

    /// Parses the end record, checks its totals against the records read and
    /// that nothing follows it.
    fn check_end(&mut self, payload_at: u64, payload: &[u8]) -> Result<EndTotals, RecordingError> {
        let src = &mut self.src;
        let totals: EndTotals = serde_json::from_slice(payload)
            .map_err(|e| src.format(payload_at, "end record", format!("is not valid: {e}")))?;
        let counted = EndTotals { truncated: totals.truncated, ..self.counted };
        if totals != counted {
            return Err(src.format(
                payload_at,
                "end record totals",
                format!(
                    "(up {}, down {}, chunks {}) differ from the records read (up {}, down {}, chunks {})",
                    totals.up_bytes,
                    totals.down_bytes,
                    totals.chunks,
                    counted.up_bytes,
                    counted.down_bytes,
                    counted.chunks
                ),
            ));
        }
        let end = src.offset;
        if src.fill(&mut [0u8; 1])? > 0 {
            return Err(src.format(end, "end record", "is followed by more data".into()));
        }
        Ok(totals)
    }

    fn cut(&mut self, complete_bytes: u64) -> Option<Chunk> {
        self.ending = Some(Ending::Cut { complete_bytes });
        None
    }
}

/// The input with its name and position, for errors.
struct Source<R> {
    name: String,
    input: R,
    offset: u64,
}

impl<R: Read> Source<R> {
    /// Reads until `buf` is full or the input ends; returns the bytes read.
    fn fill(&mut self, buf: &mut [u8]) -> Result<usize, RecordingError> {
        let mut got = 0;
        while got < buf.len() {
            match self.input.read(&mut buf[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.read_error(self.offset + got as u64, e)),
            }
        }
        self.offset += got as u64;
        Ok(got)
    }

    fn read_header_part(
        &mut self,
        buf: &mut [u8],
        field: &'static str,
    ) -> Result<(), RecordingError> {
        let at = self.offset;
        let got = self.fill(buf)?;
        if got < buf.len() {
            return Err(self.format(
                at,
                field,
                format!("is cut: the file ends at byte {}", at + got as u64),
            ));
        }
        Ok(())
    }

    fn format(&self, offset: u64, field: &'static str, problem: String) -> RecordingError {
        RecordingError::Format { file: self.name.clone(), offset, field, problem }
    }

    fn read_error(&self, offset: u64, e: io::Error) -> RecordingError {
        RecordingError::Read { file: self.name.clone(), offset, source: Arc::new(e) }
    }
}

impl<R: Read> Iterator for RecordingReader<R> {
    type Item = Result<Chunk, RecordingError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_chunk().transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> RecordingHeader {
        RecordingHeader {
            session: TunnelSessionId::new(),
            request: AccessRequestId::new(),
            user: "vendor1".into(),
            asset: "ct-scanner".into(),
            port: 104,
            client: "192.0.2.10:50123".parse().unwrap(),
            target: "10.1.2.3:104".parse().unwrap(),
            started_at: OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap(),
        }
    }

    fn config(dir: &Path) -> RecordingConfig {
        RecordingConfig {
            dir: dir.to_path_buf(),
            max_bytes_per_session: 1 << 20,
            flush_interval: Duration::from_millis(50),
            channel_capacity: 8,
        }
    }

    #[tokio::test]
    async fn a_failing_write_fails_the_session_closed() {
        let tmp = tempfile::tempdir().unwrap();
        let rec = Recorder::start(config(tmp.path())).unwrap();
        let h = header();
        let session = rec.begin(h.clone()).await.unwrap();
        let full = OpenOptions::new().write(true).open("/dev/full").unwrap();
        rec.tx.send(Msg::ReplaceFile { key: session.shared.key, file: full }).await.unwrap();
        let at = h.started_at;
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let err = loop {
            match session.record(Direction::Up, at, Bytes::from_static(b"hello")).await {
                Err(e) => break e,
                Ok(()) => {
                    assert!(std::time::Instant::now() < deadline, "no failure reported");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        };
        assert!(
            matches!(&err, RecordingError::Write { source, .. } if source.raw_os_error() == Some(28)),
            "{err}"
        );
        assert!(err.to_string().contains(&h.session.to_string()), "{err}");
        // finish reports the same failure; nothing claims a finished recording.
        let finished = session.finish(at).await;
        assert!(finished.is_err());
    }

    #[tokio::test]
    async fn begin_refuses_an_existing_file_or_symlink() {
        let tmp = tempfile::tempdir().unwrap();
        let rec = Recorder::start(config(tmp.path())).unwrap();
        let h = header();
        std::os::unix::fs::symlink("/dev/null", tmp.path().join(file_name(h.session))).unwrap();
        let err = rec.begin(h).await.unwrap_err();
        assert!(matches!(err, RecordingError::Write { action: "creating the file", .. }), "{err}");
    }

    #[test]
    fn start_refuses_bad_settings() {
        let tmp = tempfile::tempdir().unwrap();
        let mut cfg = config(tmp.path());
        cfg.flush_interval = Duration::from_millis(1001);
        assert!(Recorder::start(cfg.clone()).is_err());
        cfg.flush_interval = Duration::ZERO;
        assert!(Recorder::start(cfg.clone()).is_err());
        cfg.flush_interval = Duration::from_millis(100);
        cfg.channel_capacity = 0;
        assert!(Recorder::start(cfg).is_err());
    }

    #[tokio::test]
    async fn dropping_a_session_closes_its_file_as_cut() {
        let tmp = tempfile::tempdir().unwrap();
        let rec = Recorder::start(config(tmp.path())).unwrap();
        let h = header();
        let session = rec.begin(h.clone()).await.unwrap();
        session.record(Direction::Down, h.started_at, Bytes::from_static(b"abc")).await.unwrap();
        drop(session);
        let path = tmp.path().join(file_name(h.session));
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let mut r = read_recording(&path).unwrap();
            let chunks: Vec<Chunk> = r.by_ref().collect::<Result<_, _>>().unwrap();
            if chunks.len() == 1 {
                assert_eq!(chunks[0].data, b"abc");
                assert!(matches!(r.ending(), Some(Ending::Cut { .. })));
                break;
            }
            assert!(std::time::Instant::now() < deadline);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // The writer forgets it: no open file left.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while fs::read_dir("/proc/self/fd")
            .unwrap()
            .filter_map(|e| fs::read_link(e.unwrap().path()).ok())
            .any(|p| p == path)
        {
            assert!(std::time::Instant::now() < deadline, "file still open");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[test]
    fn error_messages_name_file_offset_and_field() {
        let e = RecordingError::Format {
            file: "x.skrec".into(),
            offset: 1234,
            field: "chunk length",
            problem: format!("{} exceeds {MAX_CHUNK_BYTES}", u32::MAX),
        };
        assert_eq!(
            e.to_string(),
            "recording x.skrec: at byte 1234: chunk length 4294967295 exceeds 16777216"
        );
    }
}
